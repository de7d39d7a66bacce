using System;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Client;

namespace ImdsTroubleshoot.Engine.Probe;

/// <summary>A named path's answer in a probe.</summary>
public sealed record PathObservation(string Path, ImdsHttpResult? Result, bool WithToken);

/// <summary>
/// What one probe of one endpoint saw on the network, before any interpretation. Made here by
/// <see cref="ImdsProbe.ObserveAsync"/>, or from a remote collector's output; <see cref="ImdsProbe.Classify"/>
/// turns either into the same results.
/// </summary>
public sealed class ProbeObservation
{
    public ProbeObservation(Uri endpoint, TimeSpan stepTimeout, ImdsHttpResult connect, ImdsHttpResult? put, ImdsHttpResult? getV2, ImdsHttpResult? getV1, IReadOnlyList<PathObservation> paths)
    {
        Endpoint = endpoint;
        StepTimeout = stepTimeout;
        Connect = connect;
        Put = put;
        GetV2 = getV2;
        GetV1 = getV1;
        Paths = paths;
        if (Connected && (put is null || getV1 is null))
        {
            throw new ArgumentException("A connected probe needs the token PUT and the plain GET.");
        }
    }

    public Uri Endpoint { get; }

    public TimeSpan StepTimeout { get; }

    public ImdsHttpResult Connect { get; }

    public ImdsHttpResult? Put { get; }

    public ImdsHttpResult? GetV2 { get; }

    public ImdsHttpResult? GetV1 { get; }

    public IReadOnlyList<PathObservation> Paths { get; }

    public bool Connected => Connect.Outcome == ImdsTransportOutcome.Response;

    /// <summary>Any sign of throttling: 429/503, or connected requests that got no answer.</summary>
    public bool LooksThrottled => new[] { Put, GetV2, GetV1 }.Concat(Paths.Select(p => p.Result))
        .Any(r => r is not null && (r.StatusCode is 429 or 503 || r.Outcome == ImdsTransportOutcome.ResponseTimeout));
}
