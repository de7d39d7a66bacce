using System;
using System.Collections.Generic;
using System.Linq;

namespace ImdsTroubleshoot.Engine.Ec2;

/// <summary>What a Set-ImdsMetadataOption run changed and what it did not, counted per instance.</summary>
public sealed class MetadataOptionsChangeSummary
{
    private readonly SortedSet<string> _regions = new(StringComparer.Ordinal);

    /// <summary>Instances the change was asked for (well-formed IDs, each once).</summary>
    public int Requested { get; private set; }

    /// <summary>ModifyInstanceMetadataOptions succeeded.</summary>
    public int Changed { get; private set; }

    /// <summary>Already had the requested options: no call was made.</summary>
    public int Unchanged { get; private set; }

    /// <summary>Not changed because of -WhatIf or a "no" at -Confirm.</summary>
    public int Skipped { get; private set; }

    /// <summary>The call failed (malformed ID, permission, throttling, ...).</summary>
    public int Failed { get; private set; }

    /// <summary>EC2 does not know the instance.</summary>
    public int NotFound { get; private set; }

    /// <summary>With -Wait: reported State = applied.</summary>
    public int Applied { get; private set; }

    /// <summary>With -Wait: still pending at the time limit.</summary>
    public int NotApplied { get; private set; }

    public bool Waited { get; private set; }

    public IReadOnlyCollection<string> Regions => _regions;

    public void AddRegion(string region) => _regions.Add(region);

    public void AddRequested(int count = 1) => Requested += count;

    public void AddChanged() => Changed++;

    public void AddUnchanged() => Unchanged++;

    public void AddSkipped() => Skipped++;

    public void AddFailed() => Failed++;

    public void AddNotFound() => NotFound++;

    public void AddApplied()
    {
        Waited = true;
        Applied++;
    }

    public void AddNotApplied()
    {
        Waited = true;
        NotApplied++;
    }

    /// <summary>True when every requested instance ended with the requested options (or would have, under -WhatIf).</summary>
    public bool Complete => Failed == 0 && NotFound == 0 && NotApplied == 0;

    public override string ToString()
    {
        var parts = new List<string>
        {
            $"Changed {Changed} of {Requested} instance{(Requested == 1 ? string.Empty : "s")}" + (_regions.Count > 0 ? " in " + string.Join(", ", _regions) : string.Empty),
        };
        if (Waited)
        {
            parts.Add($"{Applied} applied" + (NotApplied > 0 ? $", {NotApplied} still pending" : string.Empty));
        }

        if (Unchanged > 0)
        {
            parts.Add($"{Unchanged} already had these options");
        }

        if (Skipped > 0)
        {
            parts.Add($"{Skipped} skipped (WhatIf or not confirmed)");
        }

        if (NotFound > 0)
        {
            parts.Add($"{NotFound} not found");
        }

        if (Failed > 0)
        {
            parts.Add($"{Failed} failed");
        }

        return string.Join("; ", parts) + ".";
    }
}
