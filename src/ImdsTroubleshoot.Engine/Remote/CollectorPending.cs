using System;
using ImdsTroubleshoot.Engine.Diagnosis;

namespace ImdsTroubleshoot.Engine.Remote;

// TEMPORARY: replaced by the collector implementation (same session); kept only so the transports can build.
public static partial class Collector
{
    private static string BuildScript(CollectorParameters parameters) => throw new NotImplementedException("the collector has not landed yet");
}

public static partial class CollectorOutputParser
{
    private static DiagnosisInput ParseOutput(string output, string target) => throw new NotImplementedException("the collector has not landed yet");
}
