using System;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;

namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// Replaces a file the careful way: checks it did not change since it was read, writes a backup next to it with the
/// same owner and mode, writes the new bytes to a temporary file in the same directory (fsync), gives it the
/// original owner and mode, and renames it over the original (atomic). A symbolic link is followed, not replaced.
/// </summary>
public static class ProxyFileWriter
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;

    [DllImport("libc", SetLastError = true, EntryPoint = "statx")]
    private static extern unsafe int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);

    [DllImport("libc", SetLastError = true, EntryPoint = "chown")]
    private static extern int Chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);

    /// <summary>Owner, group and permission bits of a file (following links).</summary>
    public static (uint Uid, uint Gid, UnixFileMode Mode) GetOwnerAndMode(string path)
    {
        var buffer = new byte[256];
        unsafe
        {
            fixed (byte* p = buffer)
            {
                if (Statx(AtFdCwd, path, 0, StatxBasicStats, p) != 0)
                {
                    throw new IOException($"Cannot stat {path}: errno {Marshal.GetLastPInvokeError()}");
                }
            }
        }

        uint uid = BitConverter.ToUInt32(buffer, 20);
        uint gid = BitConverter.ToUInt32(buffer, 24);
        ushort mode = BitConverter.ToUInt16(buffer, 28);
        return (uid, gid, (UnixFileMode)(mode & 0xfff));
    }

    /// <summary>Writes <paramref name="newBytes"/> over <paramref name="path"/>; returns the backup's path.</summary>
    /// <exception cref="IOException">The file changed since <paramref name="expectedBytes"/> were read, or a write failed.</exception>
    public static string Replace(string path, byte[] expectedBytes, byte[] newBytes, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(expectedBytes);
        ArgumentNullException.ThrowIfNull(newBytes);
        string real = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        byte[] current = File.ReadAllBytes(real);
        if (!current.AsSpan().SequenceEqual(expectedBytes))
        {
            throw new IOException($"{real} changed since it was read; run the command again.");
        }

        var (uid, gid, mode) = GetOwnerAndMode(real);
        string dir = Path.GetDirectoryName(real) ?? "/";
        string name = Path.GetFileName(real);

        string backup = Path.Join(dir, $"{name}.imds-backup-{now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}");
        for (int n = 1; File.Exists(backup); n++)
        {
            backup = Path.Join(dir, $"{name}.imds-backup-{now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{n}");
        }

        WriteNew(backup, current, uid, gid, mode);

        string temp = Path.Join(dir, $".{name}.imds-tmp-{Guid.NewGuid():N}");
        try
        {
            WriteNew(temp, newBytes, uid, gid, mode);
            File.Move(temp, real, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }

            throw;
        }

        return backup;
    }

    private static void WriteNew(string path, byte[] bytes, uint uid, uint gid, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Proxy files are repaired on Linux only.");
        }

        using (var fs = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }

        if (Chown(path, uid, gid) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            var (u, g, _) = GetOwnerAndMode(path);
            if (u != uid || g != gid)
            {
                File.Delete(path);
                throw new UnauthorizedAccessException($"Cannot give {path} the owner {uid}:{gid} of the original (errno {errno}); run as root.");
            }
        }

        File.SetUnixFileMode(path, mode);
    }
}
