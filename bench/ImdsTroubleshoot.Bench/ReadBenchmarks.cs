using Amazon.Util;
using BenchmarkDotNet.Attributes;
using ImdsTroubleshoot.Engine.Client;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Bench;

/// <summary>
/// (a) one token + GET, and (b) a whole meta-data tree walk, against the emulator on loopback, side by side:
/// our client, AWSSDK.Core's EC2InstanceMetadata (what AWS.Tools uses), and a raw-socket floor.
/// </summary>
[MemoryDiagnoser]
public class ReadBenchmarks
{
    private ImdsEmulator? _emulator;
    private ImdsClient? _warm;
    private string _host = "127.0.0.1";
    private int _port;

    /// <summary>One emulator for the whole process: AWSSDK.Core keeps static state (endpoint, token) between benchmarks.</summary>
    private static readonly Lazy<ImdsEmulator> s_emulator = new(() =>
    {
        var e = ImdsEmulator.Start(new EmulatorOptions { Name = "bench", Settings = new EmulatorSettings { HttpPutResponseHopLimit = 2 }, LogCapacity = 16 });
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_SERVICE_ENDPOINT", e.Endpoint.ToString());
        return e;
    });

    [GlobalSetup]
    public void Setup()
    {
        _emulator = s_emulator.Value;
        _port = _emulator.Listeners[0].Port;
        _warm = new ImdsClient(new ImdsClientOptions { Endpoint = _emulator.Endpoint, MaxRequestsPerSecond = 0 });
        if (EC2InstanceMetadata.InstanceId != "i-0123456789abcdef0" || SdkWalk() != OursWalkCount())
        {
            throw new InvalidOperationException("The SDK and our client do not read the same data from the emulator.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _warm?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw socket: token + GET (floor)")]
    [BenchmarkCategory("read")]
    public Task<string> RawTokenAndGet() => RawImds.TokenAndGetAsync(_host, _port, "/latest/meta-data/instance-id");

    [Benchmark(Description = "ImdsTroubleshoot: new client, token + GET")]
    [BenchmarkCategory("read")]
    public async Task<string> OursColdTokenAndGet()
    {
        using var client = new ImdsClient(new ImdsClientOptions { Endpoint = _emulator!.Endpoint, MaxRequestsPerSecond = 0 });
        return await client.GetStringAsync("meta-data/instance-id", CancellationToken.None);
    }

    [Benchmark(Description = "ImdsTroubleshoot: cached token, GET")]
    [BenchmarkCategory("read")]
    public Task<string> OursWarmGet() => _warm!.GetStringAsync("meta-data/instance-id", CancellationToken.None);

    [Benchmark(Description = "AWSSDK.Core EC2InstanceMetadata.InstanceId")]
    [BenchmarkCategory("read")]
    public string? SdkInstanceId() => EC2InstanceMetadata.GetData("/instance-id");

    [Benchmark(Description = "ImdsTroubleshoot: walk meta-data/ (8 parallel, no pacing)")]
    [BenchmarkCategory("walk")]
    public async Task<int> OursWalk()
    {
        using var client = new ImdsClient(new ImdsClientOptions { Endpoint = _emulator!.Endpoint, MaxRequestsPerSecond = 0 });
        var (items, _) = await ImdsCrawler.CrawlAsync(client, "/latest/meta-data/", 5000, 8, null, CancellationToken.None);
        return items.Count;
    }

    [Benchmark(Description = "ImdsTroubleshoot: walk meta-data/ at the default pace")]
    [BenchmarkCategory("walk")]
    public async Task<int> OursWalkPaced()
    {
        using var client = new ImdsClient(new ImdsClientOptions { Endpoint = _emulator!.Endpoint });
        var (items, _) = await ImdsCrawler.CrawlAsync(client, "/latest/meta-data/", 5000, 8, null, CancellationToken.None);
        return items.Count;
    }

    [Benchmark(Description = "AWSSDK.Core: walk meta-data/ with GetItems/GetData")]
    [BenchmarkCategory("walk")]
    public int SdkWalk()
    {
        int leaves = 0;
        var pending = new Stack<string>();
        pending.Push("/");
        while (pending.Count > 0)
        {
            string folder = pending.Pop();
            foreach (string item in EC2InstanceMetadata.GetItems(folder) ?? new List<string>())
            {
                string name = item.Contains('=', StringComparison.Ordinal) && folder.EndsWith("/public-keys/", StringComparison.Ordinal) ? item[..item.IndexOf('=', StringComparison.Ordinal)] + "/" : item;
                if (name.EndsWith('/'))
                {
                    pending.Push(folder + name);
                }
                else
                {
                    _ = EC2InstanceMetadata.GetData(folder + name);
                    leaves++;
                }
            }
        }

        return leaves;
    }

    private int OursWalkCount() => OursWalk().GetAwaiter().GetResult();

    /// <summary>The SDK walk without BenchmarkDotNet, for the external comparison (same code, the endpoint from the environment).</summary>
    public static int SdkWalkAt() => new ReadBenchmarks().SdkWalk();
}
