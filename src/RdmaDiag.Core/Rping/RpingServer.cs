using System.Globalization;
using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Rping;

/// <summary>
/// rping's server role (<c>rping -s</c>) on one connection, over either transport: for each ping it
/// RDMA Reads the client's start buffer, signals, RDMA Writes the data into the client's sink buffer
/// (strlen + 1 octets, as rping) and signals again. Unlike rping it also checks the data it read
/// against rping's pattern for that ping and counts what verified, without stopping on a mismatch.
/// Construct it before accepting, so the client's first Send finds a receive.
/// </summary>
public sealed class RpingServer : ITransportSession, IDisposable
{
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(500);

    private readonly IRdmaTransport _transport;
    private readonly TimeSpan _stepTimeout;
    private readonly RpingMessages _messages;
    private readonly TransportRegion _buffer;

    /// <param name="maxSize">The largest ping accepted; rping's largest by default, so any `rping -c -S` fits.</param>
    /// <param name="stepTimeout">How long the RDMA Read, the Write and the client's next advertisement may take once a ping started.</param>
    public RpingServer(IRdmaTransport transport, int maxSize = RpingProtocol.MaxSize, TimeSpan? stepTimeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSize, 1);
        _transport = transport;
        _stepTimeout = stepTimeout ?? TimeSpan.FromSeconds(10);
        _messages = new RpingMessages(transport);
        _buffer = transport.Register(maxSize, MemoryAccess.LocalWrite | MemoryAccess.RemoteRead | MemoryAccess.RemoteWrite);
    }

    /// <summary>Pings served completely (read, written back, signalled).</summary>
    public int Iterations { get; private set; }

    /// <summary>Pings whose data was rping's pattern for that ping number.</summary>
    public int Verified { get; private set; }

    /// <summary>The first data that was not rping's pattern, or null.</summary>
    public string? FirstMismatch { get; private set; }

    /// <summary>The data of the last ping, as `rping -s -v` prints it ("server ping data: ...").</summary>
    public string LastData { get; private set; } = "";

    public string Progress => string.Create(CultureInfo.InvariantCulture,
        $"{Iterations} rping iteration(s), {Verified} verified{(FirstMismatch is null ? "" : $" (first mismatch: {FirstMismatch})")}");

    public void Run(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (AwaitAdvert(Idle, cancellationToken) is not { } start)
                {
                    continue;
                }
                ServePing(start, cancellationToken);
            }
        }
        catch (IwarpException e) when (e.Kind is IwarpErrorKind.ConnectionClosed or IwarpErrorKind.LocalClose)
        {
            // The client is done (or we are shutting down): a clean end.
        }
        catch (OperationCanceledException)
        {
            // Shutdown.
        }
    }

    private void ServePing(RpingBufferInfo start, CancellationToken cancellationToken)
    {
        if (start.Size > (uint)_buffer.Length)
        {
            throw new InvalidDataException($"the client's start buffer is {start.Size} octets; this server takes at most {_buffer.Length}");
        }
        int length = (int)start.Size;
        _transport.PostRead(_messages.NextWorkRequest(), _buffer, 0, length, start.RemoteKey, start.Address);
        AwaitCompletion(CompletionOpcode.RdmaRead, "the RDMA Read of the client's start buffer", cancellationToken);
        ReadOnlySpan<byte> data = _buffer.Span[..length];
        LastData = RpingPattern.Text(data);
        if (RpingPattern.Verify(data, Iterations, out string difference))
        {
            Verified++;
        }
        else
        {
            FirstMismatch ??= difference;
        }
        GoAhead();

        RpingBufferInfo sink = AwaitAdvert(_stepTimeout, cancellationToken)
            ?? throw new IwarpException(IwarpErrorKind.Stall, ConnectionPhase.FullOperation,
                $"the rping client did not advertise its sink buffer within {_stepTimeout.TotalSeconds:0.###} s") { RemoteEndPoint = _transport.RemoteEndPoint };
        // rping writes strlen(data) + 1; it never checks the sink's size, this server does.
        int nul = data.IndexOf((byte)0);
        int echo = Math.Min(Math.Min(nul < 0 ? length : nul + 1, length), (int)Math.Min(sink.Size, int.MaxValue));
        _transport.PostWrite(_messages.NextWorkRequest(), _buffer, 0, echo, sink.RemoteKey, sink.Address);
        AwaitCompletion(CompletionOpcode.RdmaWrite, "the RDMA Write into the client's sink buffer", cancellationToken);
        GoAhead();
        Iterations++;
    }

    /// <summary>The "go ahead": 16 zero octets, as rping's server sends its never-filled send buffer.</summary>
    private void GoAhead() => _messages.Send(default);

    /// <summary>The client's next buffer advertisement, or null when none came within <paramref name="timeout"/>.</summary>
    private RpingBufferInfo? AwaitAdvert(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return _messages.Receive(timeout, cancellationToken);
        }
        catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
        {
            return null;
        }
    }

    private void AwaitCompletion(CompletionOpcode opcode, string what, CancellationToken cancellationToken)
    {
        try
        {
            _messages.WaitFor(opcode, _stepTimeout, cancellationToken);
        }
        catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
        {
            throw new IwarpException(IwarpErrorKind.Stall, e.Phase, $"{what} did not complete: {e.Message}", e) { RemoteEndPoint = e.RemoteEndPoint, Waited = e.Waited };
        }
    }

    public void Dispose()
    {
        _messages.Dispose();
        _buffer.Dispose();
    }
}
