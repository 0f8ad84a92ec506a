namespace RdmaDiag.Latency;

/// <summary>
/// A way of measuring latency (send, write, read, tcp ping-pong, rx-stamp). Adding a mode is one
/// class implementing this and one line in <see cref="LatencyModeCatalog"/>.
/// </summary>
public interface ILatencyMode
{
    /// <summary>The MODE word on the command line.</summary>
    string Name { get; }

    string Description { get; }

    /// <summary>The largest message this mode can send with these settings, in bytes.</summary>
    int MaxMessageSize(LatencyRunSettings settings);

    /// <summary>
    /// Connects, binds or probes what the mode needs. Called on the measuring thread.
    /// </summary>
    /// <exception cref="UserInputException">unreachable peer, missing timestamp support, bad host.</exception>
    ILatencySession Open(LatencyRunSettings settings);
}

/// <summary>
/// A mode that runs an RDMA operation (send, write, read) over the userspace endpoint (--soft) or
/// verbs (--verbs), against a <see cref="SoftLatencyResponder"/>; the subclass measures one size.
/// </summary>
public abstract class RdmaLatencyMode : ILatencyMode
{
    public abstract SoftLatencyOp Operation { get; }

    public abstract string Name { get; }

    public abstract string Description { get; }

    /// <summary>The largest region a soft latency responder registers.</summary>
    public int MaxMessageSize(LatencyRunSettings settings) => SoftLatencyProtocol.MaxMessageSize;

    public ILatencySession Open(LatencyRunSettings settings)
    {
        var notes = new List<string>();
        return CreateSession(SoftLatencyClient.Open(settings, Operation, Name, notes), notes);
    }

    private protected abstract ILatencySession CreateSession(SoftLatencyClient client, List<string> notes);
}

/// <summary>An opened mode: measures one message size at a time on the calling thread.</summary>
public interface ILatencySession : IDisposable
{
    /// <summary>Where the run went and what the path can do, e.g. "lo: software timestamps only".</summary>
    IReadOnlyList<string> Notes { get; }

    /// <summary>One or more series for this size (rx-stamp gives one per transport and stamp kind).</summary>
    IReadOnlyList<LatencySeries> Measure(int size, SamplePlan plan);
}

public static class LatencyModeCatalog
{
    public static IReadOnlyList<ILatencyMode> All { get; } =
    [
        new SendPingPongMode(),
        new WritePingPongMode(),
        new ReadLatencyMode(),
        new TcpPingPongMode(),
        new RxStampMode(),
    ];

    public static ILatencyMode? Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
}
