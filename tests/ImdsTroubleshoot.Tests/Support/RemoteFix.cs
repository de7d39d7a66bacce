using ImdsTroubleshoot.Engine.Diagnosis;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// A remote finding whose fix acts on that machine says where to run it ("On HOST ...: fix"); equality tests
/// between remote and local findings compare the fix itself.
/// </summary>
public static class RemoteFix
{
    public static string? Strip(string? target, string? fix)
    {
        if (target is null || fix is null)
        {
            return fix;
        }

        string prefix = DiagnosisEngine.RemoteFixPrefix(target);
        return fix.StartsWith(prefix, System.StringComparison.Ordinal) ? fix[prefix.Length..] : fix;
    }
}
