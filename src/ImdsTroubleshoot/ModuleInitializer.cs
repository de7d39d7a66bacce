using System;
using System.IO;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace ImdsTroubleshoot;

/// <summary>
/// Runs when the module is imported. Large dependencies (the AWS SDK) live in Dependencies/ and load into
/// the module's own AssemblyLoadContext, so this module and AWS.Tools can share a session whatever SDK
/// versions each ships. Nothing is loaded from there until a cmdlet needs it.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    internal static readonly string ModuleDirectory = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location) ?? AppContext.BaseDirectory;

    internal static readonly string DependencyDirectory = Path.Combine(ModuleDirectory, "Dependencies");

    /// <summary>Assemblies of ours that live in Dependencies/ and bridge to the isolated SDK.</summary>
    internal static readonly string[] BridgeAssemblies = { "ImdsTroubleshoot.Aws" };

    private static readonly object s_lock = new();
    private static DependencyLoadContext? s_context;

    public void OnImport()
    {
        AssemblyLoadContext.Default.Resolving += ResolveBridge;
    }

    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        AssemblyLoadContext.Default.Resolving -= ResolveBridge;
        EmulatorRegistry.StopAll();
        Engine.Client.ImdsClientCache.Clear();
    }

    internal static AssemblyLoadContext? DependencyContext => s_context;

    private static Assembly? ResolveBridge(AssemblyLoadContext defaultContext, AssemblyName name)
    {
        if (Array.IndexOf(BridgeAssemblies, name.Name) < 0)
        {
            return null;
        }

        lock (s_lock)
        {
            s_context ??= new DependencyLoadContext(DependencyDirectory);
        }

        return s_context.LoadFromAssemblyName(name);
    }
}

/// <summary>Loads everything found in Dependencies/ privately; everything else comes from the default context.</summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    private readonly string _directory;

    public DependencyLoadContext(string directory)
        : base("ImdsTroubleshoot.Dependencies", isCollectible: false)
    {
        _directory = directory;
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || assemblyName.Name == "ImdsTroubleshoot.Engine")
        {
            // Shared types travel between the cmdlets and the bridge: one copy, in the default context.
            return null;
        }

        string path = Path.Combine(_directory, assemblyName.Name + ".dll");
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }
}
