namespace RdmaDiag.Endpoint;

/// <summary>Who runs a connection's receive loop.</summary>
public enum ProgressMode : byte
{
    /// <summary>
    /// A dedicated thread per connection receives and processes FPDUs all the time, so the peer's
    /// Writes, Reads and Atomics are served even while the application does nothing.
    /// </summary>
    Background = 0,

    /// <summary>
    /// No receive thread: the thread that waits for a completion runs the receive loop itself (one
    /// blocking receive, then the FPDUs it brought). This removes a thread hand-off per message, the
    /// lowest-latency mode, but the peer's Writes, Reads and Atomics are only served while some thread
    /// waits on this connection.
    /// </summary>
    Inline,
}

/// <summary>Local resources of one connection: queue depths, memory, and how progress is made.</summary>
public sealed record IwarpConnectionOptions
{
    public static IwarpConnectionOptions Default { get; } = new();

    /// <summary>Receives that may be posted and not yet consumed.</summary>
    public int MaxReceiveQueueDepth { get; init; } = 1024;

    /// <summary>RDMA Reads and Atomics posted beyond the negotiated ORD wait in a queue this deep.</summary>
    public int MaxPendingReads { get; init; } = 1024;

    /// <summary>Completions held before the application polls them; more fails the connection (CQ overrun).</summary>
    public int CompletionQueueDepth { get; init; } = 4096;

    /// <summary>Total octets that may be registered as memory regions.</summary>
    public long MaxRegisteredBytes { get; init; } = 1L << 30;

    public ProgressMode Progress { get; init; } = ProgressMode.Background;

    /// <summary>Spin instead of sleeping while waiting for a completion (for latency measurement; burns a core).</summary>
    public bool BusyPoll { get; init; }

    /// <summary>
    /// How long a responder's first send waits at the MPA fence for the initiator's first FPDU (RFC 5044
    /// §6: the responder may not send before it); longer fails the send with a Stall.
    /// </summary>
    public TimeSpan FenceTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Use this EMSS instead of the socket's TCP_MAXSEG when sizing FPDUs (tests use it to force
    /// segmentation on loopback, whose MSS is tens of kilobytes). Clamped by the MULPDU limits.
    /// </summary>
    public int? EmssOverride { get; init; }

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReceiveQueueDepth, 1, nameof(MaxReceiveQueueDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingReads, 1, nameof(MaxPendingReads));
        ArgumentOutOfRangeException.ThrowIfLessThan(CompletionQueueDepth, 16, nameof(CompletionQueueDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRegisteredBytes, 0, nameof(MaxRegisteredBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FenceTimeout, TimeSpan.Zero, nameof(FenceTimeout));
        if (EmssOverride is { } emss)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(emss, 64, nameof(EmssOverride));
        }
    }
}
