using System;
using System.Management.Automation;
using System.Threading;

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
