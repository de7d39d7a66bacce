using System;
using System.IO;
using System.Reflection;
using System.Runtime.Loader;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// The STAGED bridge (out/.../Dependencies/ImdsTroubleshoot.Aws.dll and its SDK), loaded the way the module loads it:
/// into a private AssemblyLoadContext that shares only ImdsTroubleshoot.Engine with the default context.
/// </summary>
public static class StagedBridge
{
    private static readonly Lazy<IAwsBridge> s_bridge = new(() =>
    {
        var context = new PrivateContext(Path.Combine(Repo.StagedModuleDir, "Dependencies"));
        Assembly bridge = context.LoadFromAssemblyName(new AssemblyName("ImdsTroubleshoot.Aws"));
        Type type = bridge.GetType("ImdsTroubleshoot.Aws.AwsBridge", throwOnError: true)!;
        return (IAwsBridge)Activator.CreateInstance(type)!;
    });

    public static IAwsBridge Instance => s_bridge.Value;

    /// <summary>Credentials from a test source (no environment, no files).</summary>
    public static IAwsCredentialSource Credentials(string accessKeyId = "AKIDSTAGEDBRIDGE01") => new FixedCredentials(accessKeyId);

    private sealed class FixedCredentials : IAwsCredentialSource
    {
        private readonly string _key;

        public FixedCredentials(string key) => _key = key;

        public string Description => "test credentials";

        public AwsCredentialValues GetCredentials() => new(_key, "test-secret-not-real", null);
    }

    private sealed class PrivateContext : AssemblyLoadContext
    {
        private readonly string _directory;

        public PrivateContext(string directory)
            : base("ImdsTroubleshoot.Tests.StagedBridge")
        {
            _directory = directory;
        }

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (assemblyName.Name is null || assemblyName.Name == "ImdsTroubleshoot.Engine")
            {
                return null;
            }

            string path = Path.Combine(_directory, assemblyName.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
