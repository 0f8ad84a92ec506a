using System.Diagnostics;
using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Rping;

/// <summary>
/// rping's client role (<c>rping -c</c>) over either transport: each ping advertises the start buffer,
/// lets the server RDMA Read it, advertises the sink buffer, lets the server RDMA Write the data back,
/// and compares the two (what <c>rping -c -V</c> does). Construct it before connecting, so its buffers
/// are registered and its receives posted; then <see cref="Ping"/> once connected.
/// </summary>
public sealed class RpingClient : IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly RpingMessages _messages;
    private readonly TransportRegion _start;
    private readonly TransportRegion _sink;

    /// <param name="size">The ping size (rping -S), <see cref="RpingProtocol.MinSize"/> to <see cref="RpingProtocol.MaxSize"/>.</param>
    /// <param name="timeout">How long each step may wait for the server.</param>
    public RpingClient(IRdmaTransport transport, int size = RpingProtocol.DefaultSize, TimeSpan? timeout = null)
    {
        RpingProtocol.CheckSize(size, nameof(size));
        _timeout = timeout ?? TimeSpan.FromSeconds(10);
        Size = size;
        // rping registers its start and sink buffers for local write and remote read and write alike.
        const MemoryAccess Remote = MemoryAccess.LocalWrite | MemoryAccess.RemoteRead | MemoryAccess.RemoteWrite;
        _messages = new RpingMessages(transport);
        _start = transport.Register(size, Remote);
        _sink = transport.Register(size, Remote);
    }

    public int Size { get; }

    /// <summary>The data the server wrote back in the last ping, as `rping -v` prints it.</summary>
    public string LastData => RpingPattern.Text(_sink.Span);

    /// <summary>
    /// Ping number <paramref name="ping"/> (0, 1, ... as rping counts). Data that comes back wrong is a
    /// result with Verified false; a connection failure throws <see cref="IwarpException"/>; a server
    /// that answers with something other than rping's 16-octet messages throws <see cref="InvalidDataException"/>.
    /// </summary>
    public ProbeResult Ping(int ping)
    {
        Span<byte> start = _start.Span[..Size];
        RpingPattern.Fill(start, ping);
        _sink.Span.Clear();
        long began = Stopwatch.GetTimestamp();
        Advertise(_start);
        AwaitGoAhead("its RDMA Read of the start buffer");
        Advertise(_sink);
        AwaitGoAhead("its RDMA Write into the sink buffer");
        TimeSpan elapsed = Stopwatch.GetElapsedTime(began);
        ReadOnlySpan<byte> back = _sink.Span[..Size];
        int same = back.CommonPrefixLength(start);
        return same == Size
            ? new ProbeResult("rping", Size, true, elapsed, "")
            : new ProbeResult("rping", Size, false, elapsed,
                $"data mismatch in ping {ping}: octet {same} came back as 0x{back[same]:X2}, sent 0x{start[same]:X2} (\"{RpingPattern.Text(back)}\")");
    }

    /// <summary>Pings 0 to <paramref name="count"/>-1; stops at the first that does not verify.</summary>
    public IReadOnlyList<ProbeResult> Run(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var results = new List<ProbeResult>(count);
        for (int ping = 0; ping < count && !cancellationToken.IsCancellationRequested; ping++)
        {
            ProbeResult result = Ping(ping);
            results.Add(result);
            if (!result.Verified)
            {
                break;
            }
        }
        return results;
    }

    private void Advertise(TransportRegion buffer) =>
        _messages.Send(new RpingBufferInfo(buffer.RemoteAddress, buffer.RemoteKey, (uint)Size));

    private void AwaitGoAhead(string what)
    {
        try
        {
            _messages.Receive(_timeout, CancellationToken.None);
        }
        catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
        {
            throw new IwarpException(IwarpErrorKind.Stall, e.Phase, $"the rping server did not signal {what}: {e.Message}", e)
            {
                RemoteEndPoint = e.RemoteEndPoint,
                Waited = e.Waited,
            };
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"the server's signal after {what} is not rping's: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        _messages.Dispose();
        _start.Dispose();
        _sink.Dispose();
    }
}
