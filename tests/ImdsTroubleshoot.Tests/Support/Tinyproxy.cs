using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>Debian's tinyproxy, started in the foreground on a free loopback port with its own config and log.</summary>
public sealed class Tinyproxy : IDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    public Tinyproxy()
    {
        if (!File.Exists("/usr/bin/tinyproxy"))
        {
            throw new InvalidOperationException("tinyproxy is not installed (tests/run-tests.sh installs it).");
        }

        _dir = Path.Combine(Path.GetTempPath(), "tinyproxy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        Port = FreePort();
        LogFile = Path.Combine(_dir, "tinyproxy.log");
        string config = Path.Combine(_dir, "tinyproxy.conf");
        File.WriteAllText(config, $"""
            Port {Port}
            Listen 127.0.0.1
            Timeout 10
            LogFile "{LogFile}"
            LogLevel Connect
            MaxClients 50
            Allow 127.0.0.1
            ViaProxyName "tinyproxy-test"
            """);
        var psi = new ProcessStartInfo("/usr/bin/tinyproxy") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-d");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(config);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        throw new InvalidOperationException("tinyproxy did not start listening");
    }

    public int Port { get; }

    public string LogFile { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}");

    public string Log => File.Exists(LogFile) ? File.ReadAllText(LogFile) : string.Empty;

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
