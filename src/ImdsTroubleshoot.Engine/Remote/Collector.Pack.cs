using System;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace ImdsTroubleshoot.Engine.Remote;

public static partial class Collector
{
    /// <summary>The exit code of a packed collector that cannot unpack itself (no base64 or gzip on the target).</summary>
    public const int UnpackFailedExitCode = 3;

    /// <summary>The first line of every packed collector (how a reader of SSM's command history recognizes it).</summary>
    public const string PackedHeader = "# ImdsTroubleshoot remote collector, gzip-compressed and base64-encoded (SSM refused the plain script's size).";

    /// <summary>
    /// <paramref name="script"/> gzip-compressed and base64-encoded inside a small POSIX sh wrapper that unpacks it with
    /// base64 and gzip (coreutils or BusyBox) and runs it in the same shell, so that it behaves as the plain script does:
    /// about 45% of the plain size, for an SSM that refuses the plain collector as too large. The plain script stays the
    /// default because it can be read as it is in SSM's command history.
    /// </summary>
    public static string Pack(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        byte[] raw = Encoding.UTF8.GetBytes(script);
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(raw, 0, raw.Length);
        }

        string encoded = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length);
        var text = new StringBuilder(encoded.Length + 1200);
        text.Append(PackedHeader).Append('\n')
            .Append("# It only reads. To see it, put the lines between the IMDSC_PACKED markers in a file and run: base64 -d FILE | gzip -dc\n")
            .Append("for imdsc_tool in base64 gzip; do\n")
            .Append("    command -v \"$imdsc_tool\" >/dev/null 2>&1 ||\n")
            .Append("        { echo \"ImdsTroubleshoot: the collector came compressed and needs $imdsc_tool to unpack; this system has none.\" >&2; exit ")
            .Append(UnpackFailedExitCode).Append("; }\n")
            .Append("done\n")
            .Append("imdsc_packed=$(base64 -d <<'IMDSC_PACKED' | gzip -dc\n");
        for (int i = 0; i < encoded.Length; i += 76)
        {
            text.Append(encoded, i, Math.Min(76, encoded.Length - i)).Append('\n');
        }

        text.Append("IMDSC_PACKED\n")
            .Append(")\n")
            .Append("[ -n \"$imdsc_packed\" ] || { echo 'ImdsTroubleshoot: the compressed collector could not be unpacked.' >&2; exit ").Append(UnpackFailedExitCode).Append("; }\n")
            .Append("eval \"$imdsc_packed\"\n");
        return text.ToString();
    }
}
