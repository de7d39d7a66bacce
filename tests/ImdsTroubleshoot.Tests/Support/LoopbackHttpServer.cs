using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// An HttpListener on a free 127.0.0.1 port that hands every request to a handler: the plumbing of the fake AWS
/// endpoints (FakeEc2, FakeSsm), which differ only in the protocol they speak. A client that goes away while its
/// request is handled, or a request still running when the server stops, ends that request quietly.
/// </summary>
public sealed class LoopbackHttpServer : IDisposable
{
    private readonly Func<HttpListenerContext, Task> _handle;
    private readonly CancellationTokenSource _stop = new();
    private HttpListener _listener = new();

    public LoopbackHttpServer(Func<HttpListenerContext, Task> handle)
    {
        _handle = handle;
        for (int attempt = 0; ; attempt++)
        {
            int port = FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                _listener.Start();
                Url = new Uri($"http://127.0.0.1:{port}/");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another listener took the port between FreePort and Start; a failed Start disposes the listener.
                _listener = new HttpListener();
            }
        }

        _ = Task.Run(AcceptLoopAsync);
    }

    public Uri Url { get; }

    /// <summary>Cancelled when the server is disposed (for handlers that wait).</summary>
    public CancellationToken Stopping => _stop.Token;

    public bool IsStopping => _stop.IsCancellationRequested;

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (HttpListenerException)
        {
            // The managed HttpListener can trip over another listener that took the same port number meanwhile
            // while removing its prefix; the listener is closed either way.
        }
    }

    /// <summary>The request body as UTF-8 text.</summary>
    public static async Task<string> ReadBodyAsync(HttpListenerContext context)
    {
        using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
        return await reader.ReadToEndAsync().ConfigureAwait(false);
    }

    /// <summary>Writes the status and the UTF-8 body (with its length) and closes the response; headers are set before.</summary>
    public static async Task RespondAsync(HttpListenerContext context, int status, string contentType, string body)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }

    private async Task HandleOneAsync(HttpListenerContext context)
    {
        try
        {
            await _handle(context).ConfigureAwait(false);
        }
        catch (Exception) when (IsStopping)
        {
        }
        catch (HttpListenerException)
        {
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                continue;
            }

            _ = Task.Run(() => HandleOneAsync(context));
        }
    }
}
