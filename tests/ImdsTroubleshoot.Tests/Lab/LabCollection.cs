using Xunit;

namespace ImdsTroubleshoot.Tests.Lab;

/// <summary>Lab tests build namespaces and run real clients; they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class LabCollection
{
    public const string Name = "Lab";
}
