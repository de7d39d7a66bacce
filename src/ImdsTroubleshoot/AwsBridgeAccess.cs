using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot;

/// <summary>
/// The one place the module names a type of ImdsTroubleshoot.Aws. Touching <see cref="Bridge"/> loads the bridge and
/// the AWS SDK from Dependencies/ into the module's own load context (ModuleInitializer resolves it); until an AWS
/// cmdlet runs, nothing of the SDK is loaded.
/// </summary>
internal static class AwsBridgeAccess
{
    private static IAwsBridge? s_bridge;

    public static IAwsBridge Bridge
    {
        get
        {
            if (Volatile.Read(ref s_bridge) is { } bridge)
            {
                return bridge;
            }

            try
            {
                Interlocked.CompareExchange(ref s_bridge, Create(), null);
            }
            catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException or TypeLoadException)
            {
                throw new InvalidOperationException(
                    $"The AWS SDK could not be loaded from {ModuleInitializer.DependencyDirectory}: {ex.Message} Reinstall the module.", ex);
            }

            return s_bridge!;
        }
    }

    /// <summary>Kept out of line so that JIT-compiling a caller does not load the bridge assembly.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IAwsBridge Create() => new ImdsTroubleshoot.Aws.AwsBridge();
}
