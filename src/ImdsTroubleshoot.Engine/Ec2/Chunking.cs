using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>Splits work into API-sized pieces.</summary>
public static class Chunking
{
    /// <summary>Consecutive chunks of at most <paramref name="size"/> items, in order; no empty chunk.</summary>
    public static IEnumerable<IReadOnlyList<T>> Chunk<T>(IEnumerable<T> items, int size)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var chunk = new List<T>(Math.Min(size, 1024));
        foreach (T item in items)
        {
            chunk.Add(item);
            if (chunk.Count == size)
            {
                yield return chunk;
                chunk = new List<T>(Math.Min(size, 1024));
            }
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }

    /// <summary>The items once each, first occurrence first (ordinal).</summary>
    public static List<string> Distinct(IEnumerable<string> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (string item in items)
        {
            if (seen.Add(item))
            {
                result.Add(item);
            }
        }

        return result;
    }
}
