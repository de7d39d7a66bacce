using System;
using System.IO;
using System.Text;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>A throw-away file system tree (etc/, home/, proc/ ...) to point the proxy readers and the repair at.</summary>
public sealed class FakeRoot : IDisposable
{
    public FakeRoot()
    {
        Path = Directory.CreateTempSubdirectory("imds-proxy-root-").FullName;
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Join(Path, relative);

    /// <summary>Writes text exactly as given (no newline translation), creating folders.</summary>
    public string Write(string relative, string text) => WriteBytes(relative, Encoding.UTF8.GetBytes(text));

    public string WriteBytes(string relative, byte[] bytes)
    {
        string full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, bytes);
        return full;
    }

    public string Read(string relative) => File.ReadAllText(this[relative]);

    public byte[] ReadBytes(string relative) => File.ReadAllBytes(this[relative]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
