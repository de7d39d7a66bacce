using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;

namespace ImdsTroubleshoot.Engine.Net;

/// <summary>
/// Runs a piece of code inside a named Linux network namespace (<c>ip netns add NAME</c>) on a dedicated
/// thread. Sockets created there stay in that namespace after the thread returns, so a listener can be
/// opened in a lab namespace and served from anywhere in this process. Needs CAP_SYS_ADMIN (root).
/// </summary>
public static class NetworkNamespace
{
    private const int CloneNewNet = 0x40000000;

    [DllImport("libc", SetLastError = true, EntryPoint = "setns")]
    private static extern int SetNs(int fd, int nstype);

    /// <summary>The path of a named namespace, as iproute2 keeps them.</summary>
    public static string PathOf(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a valid network namespace name.", nameof(name));
        }

        return "/run/netns/" + name;
    }

    public static bool Exists(string name) => File.Exists(PathOf(name));

    public static T Run<T>(string name, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        string path = PathOf(name);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"The network namespace '{name}' does not exist ({path} is missing).");
        }

        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var original = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle(path);
                Enter(target, name);
                try
                {
                    result = action();
                }
                finally
                {
                    // The thread ends right after; going back is for tidiness, not correctness.
                    _ = SetNs((int)original.DangerousGetHandle(), CloneNewNet);
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        })
        {
            IsBackground = true,
            Name = "netns:" + name,
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw failure is UnauthorizedAccessException or InvalidOperationException or IOException
                ? failure
                : new InvalidOperationException(failure.Message, failure);
        }

        return result;
    }

    private static void Enter(Microsoft.Win32.SafeHandles.SafeFileHandle target, string name)
    {
        if (SetNs((int)target.DangerousGetHandle(), CloneNewNet) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == 1)
            {
                throw new UnauthorizedAccessException($"Entering network namespace '{name}' needs root (CAP_SYS_ADMIN): setns failed with EPERM.");
            }

            throw new InvalidOperationException($"Entering network namespace '{name}' failed: setns errno {errno}.");
        }
    }
}
