using System.Net;

namespace RdmaDiag.Verbs;

/// <summary>
/// A listener whose connection requests arrive with their transport already prepared (memory can be
/// registered and receives posted) but not yet accepted: a protocol's server half sets itself up on
/// the transport, then the request is accepted, so the peer's first message always finds a receive.
/// </summary>
public interface ITransportListener : IDisposable
{
    EndPoint LocalEndPoint { get; }

    /// <summary>What serves, for the banner: "soft iWARP (rev 2 ...)", "verbs (rdma_cm)".</summary>
    string Description { get; }

    /// <summary>A connection that failed before it could be offered (a bad MPA Request, a resource failure): the peer and why.</summary>
    event Action<EndPoint?, string>? SetupFailed;

    Task<ITransportRequest> AcceptAsync(CancellationToken cancellationToken = default);
}

/// <summary>One connection request with its prepared transport.</summary>
public interface ITransportRequest
{
    EndPoint? RemoteEndPoint { get; }

    IRdmaTransport Transport { get; }

    /// <summary>Accepts; returns what the connection runs with, for the log.</summary>
    string Accept();

    /// <summary>Refuses (an MPA Reply with R=1) and releases the transport.</summary>
    void Reject();
}

/// <summary>A protocol's server half on one connection.</summary>
public interface ITransportSession
{
    /// <summary>
    /// Serves until the peer closes cleanly (returns), the connection fails (throws
    /// <see cref="Endpoint.IwarpException"/>), the peer breaks the protocol (throws
    /// <see cref="InvalidDataException"/>), or <paramref name="cancellationToken"/> fires (returns).
    /// </summary>
    void Run(CancellationToken cancellationToken);

    /// <summary>What was served so far, for the log: "7 probe request(s)", "10 rping iteration(s), 10 verified".</summary>
    string Progress { get; }
}
