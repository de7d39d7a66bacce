using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>EC2 instance IDs: "i-" and 8 or 17 lowercase hexadecimal digits, checked before any call.</summary>
public static partial class Ec2InstanceId
{
    [GeneratedRegex("^i-([0-9a-f]{8}|[0-9a-f]{17})$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    [GeneratedRegex(@"\bi-[0-9a-f]{8}(?:[0-9a-f]{9})?\b", RegexOptions.CultureInvariant)]
    private static partial Regex InText();

    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    /// <summary>Why <paramref name="id"/> is not an instance ID, in words; null when it is one.</summary>
    public static string? Problem(string? id)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            return "An instance ID is empty.";
        }

        if (IsValid(id))
        {
            return null;
        }

        string hint = IsValid(id.Trim().ToLowerInvariant())
            ? " Instance IDs are lowercase, without spaces."
            : " An instance ID is 'i-' followed by 8 or 17 hexadecimal digits, such as i-0123456789abcdef0.";
        return $"Invalid id: \"{id}\" (InvalidInstanceID.Malformed).{hint}";
    }

    /// <summary>The instance IDs written in a service message such as "The instance IDs 'i-a, i-b' do not exist".</summary>
    public static IReadOnlyList<string> FindIn(string? text)
    {
        var found = new List<string>();
        if (text is null)
        {
            return found;
        }

        foreach (Match m in InText().Matches(text))
        {
            if (!found.Contains(m.Value))
            {
                found.Add(m.Value);
            }
        }

        return found;
    }
}
