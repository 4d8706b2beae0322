using BenchmarkDotNet.Running;

Ddim.Native.TorchRuntime.Initialize();

// dotnet run -c Release --project bench/Ddim.Bench -- --filter '*'            (all benchmarks)
// dotnet run -c Release --project bench/Ddim.Bench -- --filter '*SamplerOverhead*'
BenchmarkSwitcher.FromAssembly(typeof(Ddim.Bench.SamplerOverhead).Assembly).Run(args);
