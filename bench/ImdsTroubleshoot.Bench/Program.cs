using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace ImdsTroubleshoot.Bench;

/// <summary>
/// dotnet run -c Release --project bench/ImdsTroubleshoot.Bench -- micro      (a) and (b), BenchmarkDotNet, in process
/// dotnet run -c Release --project bench/ImdsTroubleshoot.Bench -- external   (b) against a curl loop, (c) blackhole verdicts (root)
/// dotnet run -c Release --project bench/ImdsTroubleshoot.Bench -- diagnosis  time to a full Invoke-ImdsDiagnosis verdict per scenario
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : "micro";
        switch (mode)
        {
            case "micro":
                var config = ManualConfig.Create(DefaultConfig.Instance)
                    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(15))
                    .WithOptions(ConfigOptions.DisableOptimizationsValidator)
                    .AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory);
                BenchmarkRunner.Run<ReadBenchmarks>(config, args.Skip(1).ToArray());
                return 0;
            case "external":
                return External.Run(args.Skip(1).ToArray());
            case "diagnosis":
                return DiagnosisBench.Run();
            default:
                Console.Error.WriteLine("usage: ImdsTroubleshoot.Bench micro|external|diagnosis");
                return 2;
        }
    }
}
