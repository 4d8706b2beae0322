using static TorchSharp.torch;

namespace Ddim.Tests;

/// <summary>
/// Runs each test of a derived class on one libtorch thread and restores the count afterwards. Results are exact for
/// any fixed thread count, but on a busy 2-core machine (a training job in the background) OpenMP's spinning threads
/// made tiny forward passes and training steps some 30 times slower than a single thread.
/// </summary>
public abstract class OneTorchThread : IDisposable
{
    private readonly int threads = get_num_threads();

    protected OneTorchThread() => set_num_threads(1);

    public void Dispose()
    {
        set_num_threads(threads);
        GC.SuppressFinalize(this);
    }
}
