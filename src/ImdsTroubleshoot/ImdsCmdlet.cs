using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;

namespace ImdsTroubleshoot;

/// <summary>What every cmdlet of the module shares: Ctrl+C cancellation and error records with stable IDs.</summary>
public abstract class ImdsCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancellation = new();
    private bool _disposed;

    /// <summary>Cancelled when the user presses Ctrl+C (StopProcessing).</summary>
    protected CancellationToken CancellationToken => _cancellation.Token;

    protected override void StopProcessing()
    {
        _cancellation.Cancel();
        base.StopProcessing();
    }

    protected static ErrorRecord Error(Exception exception, string errorId, ErrorCategory category, object? target, string? recommendedAction = null)
    {
        var record = new ErrorRecord(exception, errorId, category, target);
        if (recommendedAction is not null)
        {
            record.ErrorDetails = new ErrorDetails(exception.Message) { RecommendedAction = recommendedAction };
        }

        return record;
    }

    protected void WriteError(Exception exception, string errorId, ErrorCategory category, object? target, string? recommendedAction = null) =>
        WriteError(Error(exception, errorId, category, target, recommendedAction));

    protected void ThrowTerminatingError(Exception exception, string errorId, ErrorCategory category, object? target, string? recommendedAction = null) =>
        ThrowTerminatingError(Error(exception, errorId, category, target, recommendedAction));

    private BlockingCollection<Action>? _pump;

    /// <summary>
    /// Runs async engine work off the pipeline thread while this thread writes what the work posts (verbose,
    /// progress, objects) in order; returns the work's result or rethrows its exception. Ctrl+C cancels it.
    /// </summary>
    protected T RunAsync<T>(Func<CancellationToken, Task<T>> work)
    {
        using var queue = new BlockingCollection<Action>();
        _pump = queue;
        try
        {
            Task<T> task = Task.Run(() => work(CancellationToken));
            task.ContinueWith(_ => queue.CompleteAdding(), TaskScheduler.Default);
            bool stopped = false;
            foreach (Action action in queue.GetConsumingEnumerable())
            {
                if (stopped)
                {
                    continue;
                }

                try
                {
                    action();
                }
                catch (PipelineStoppedException) when (CancellationToken.IsCancellationRequested)
                {
                    // Ctrl+C: nothing more can be written, but the work is cancelled and still finishes its
                    // bounded clean-up (SSM CancelCommand, killing ssh) before the command returns.
                    stopped = true;
                }
            }

            try
            {
                T result = task.GetAwaiter().GetResult();
                return stopped ? throw new PipelineStoppedException() : result;
            }
            catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }
        finally
        {
            _pump = null;
        }
    }

    /// <summary>Queues <paramref name="action"/> for the pipeline thread while RunAsync pumps; outside RunAsync it is dropped.</summary>
    protected void Post(Action action)
    {
        var queue = _pump;
        if (queue is null)
        {
            return;
        }

        try
        {
            queue.Add(action);
        }
        catch (InvalidOperationException)
        {
            // The work already finished; what it posts late is dropped.
        }
    }

    protected void PostVerbose(string message) => Post(() => WriteVerbose(message));
    /// <summary>ThrowTerminatingError for helpers outside the cmdlet class.</summary>
    internal void ThrowTerminating(Exception exception, string errorId, ErrorCategory category, object? target, string? recommendedAction = null) =>
        ThrowTerminatingError(exception, errorId, category, target, recommendedAction);

    /// <summary>The IMDS endpoint for <paramref name="endpoint"/> (or the environment's); a bad one ends the command.</summary>
    protected Engine.Client.ImdsEndpointChoice ResolveEndpoint(Uri? endpoint)
    {
        try
        {
            return Engine.Client.ImdsEndpointResolver.Resolve(endpoint);
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.ImdsInvalidEndpoint, ErrorCategory.InvalidArgument, endpoint);
            throw;
        }
    }

    /// <summary>Releases what a cmdlet holds across its records (clients, connections); called once from <see cref="Dispose"/>.</summary>
    protected virtual void DisposeResources()
    {
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            DisposeResources();
            _cancellation.Dispose();
            GC.SuppressFinalize(this);
        }
    }
}
