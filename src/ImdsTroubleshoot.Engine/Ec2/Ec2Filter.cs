using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>
/// A DescribeInstances filter: a name such as "tag:Env", "instance-state-name" or "metadata-options.http-tokens"
/// and the values to match (ORed; filters are ANDed; names and values are case-sensitive; * and ? are wildcards).
/// </summary>
public sealed class Ec2Filter
{
    public Ec2Filter(string name, IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException("A filter needs a name, such as 'tag:Env' or 'instance-state-name'.", nameof(name));
        }

        Name = name.Trim();
        Values = values.ToArray();
        if (Values.Count == 0 || Values.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException($"The filter '{Name}' needs at least one value, and no value may be empty.", nameof(values));
        }

        if (Values.Count > Ec2Limits.MaxFilterValues)
        {
            throw new ArgumentException($"The filter '{Name}' has {Values.Count} values; EC2 accepts at most {Ec2Limits.MaxFilterValues} per filter.", nameof(values));
        }
    }

    public Ec2Filter(string name, params string[] values)
        : this(name, (IEnumerable<string>)values)
    {
    }

    public string Name { get; }

    public IReadOnlyList<string> Values { get; }

    public override string ToString() => $"{Name}={string.Join(",", Values)}";

    /// <summary>Filters from a dictionary (a PowerShell hashtable): each key a filter name, each value one value or a list.</summary>
    public static IReadOnlyList<Ec2Filter> FromDictionary(IDictionary dictionary)
    {
        ArgumentNullException.ThrowIfNull(dictionary);
        var filters = new List<Ec2Filter>();
        foreach (DictionaryEntry entry in dictionary)
        {
            string name = Convert.ToString(entry.Key, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
            filters.Add(new Ec2Filter(name, ValuesOf(entry.Value, name)));
        }

        return filters;
    }

    /// <summary>Turns one value or a list of values into strings.</summary>
    public static IReadOnlyList<string> ValuesOf(object? value, string name)
    {
        var values = new List<string>();
        switch (value)
        {
            case null:
                break;
            case string s:
                values.Add(s);
                break;
            case IEnumerable items:
                foreach (object? item in items)
                {
                    if (item is not null)
                    {
                        values.Add(Convert.ToString(item, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty);
                    }
                }

                break;
            default:
                values.Add(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty);
                break;
        }

        if (values.Count == 0)
        {
            throw new ArgumentException($"The filter '{name}' has no value.");
        }

        return values;
    }

    /// <summary>Throws unless the set fits one DescribeInstances call (at most 50 filters, each name once).</summary>
    public static void CheckSet(IReadOnlyCollection<Ec2Filter> filters)
    {
        ArgumentNullException.ThrowIfNull(filters);
        if (filters.Count > Ec2Limits.MaxFilters)
        {
            throw new ArgumentException($"{filters.Count} filters were given; EC2 accepts at most {Ec2Limits.MaxFilters} in one call.");
        }

        var duplicate = filters.GroupBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"The filter '{duplicate.Key}' is given more than once; give it once with all its values.");
        }
    }
}
