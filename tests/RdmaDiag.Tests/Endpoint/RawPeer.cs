using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// A hand-driven iWARP peer on a plain socket: it writes exactly the bytes a test crafts with the wire
/// codecs (bad FPDUs included) and reads back what the endpoint sends.
/// </summary>
internal sealed class RawPeer : IDisposable
{
    private readonly byte[] _buffer = new byte[1 << 21];
    private int _start;
    private int _end;

    private RawPeer(Socket socket)
    {
        Socket = socket;
        Socket.NoDelay = true;
    }

    public Socket Socket { get; }

    /// <summary>CRC on the FPDUs this peer sends and checks.</summary>
    public bool Crc { get; set; }

    public uint[] Msn { get; } = [1, 1, 1, 1];

    public static RawPeer Connect(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(endpoint);
        return new RawPeer(socket);
    }

    /// <summary>Connects as MPA initiator with <paramref name="request"/> and reads the Reply.</summary>
    public static RawPeer Initiate(IPEndPoint endpoint, MpaStartFrame request, out MpaStartFrame reply)
    {
        RawPeer peer = Connect(endpoint);
        peer.SendFrame(request);
        reply = peer.ReceiveFrame(TimeSpan.FromSeconds(5));
        peer.Crc = request.CrcPreferred || reply.CrcPreferred;
        return peer;
    }

    /// <summary>A plain MPA v2 Request as siw sends it by default (Rev 2, S=1, IRD/ORD 16, no CRC, no markers).</summary>
    public static MpaStartFrame SiwRequest(bool crc = false, MpaV2Block? block = null) =>
        MpaStartFrame.Request(crc, block ?? new MpaV2Block(16, 16), ReadOnlyMemory<byte>.Empty);

    public static async Task<RawPeer> AcceptAsync(Socket listener, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return new RawPeer(await listener.AcceptAsync(cts.Token));
    }

    public static Socket Listen(IPAddress? address = null)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address ?? IPAddress.Loopback, 0));
        listener.Listen(8);
        return listener;
    }

    public void Send(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[Socket.Send(bytes)..];
        }
    }

    public void SendFrame(in MpaStartFrame frame)
    {
        byte[] bytes = new byte[frame.EncodedLength];
        frame.Write(bytes);
        Send(bytes);
    }

    public byte[] Fpdu(in DdpHeader ddp, in RdmapHeader header, ReadOnlySpan<byte> payload, bool corruptCrc = false)
    {
        byte[] bytes = new byte[RdmaDiag.Wire.Mpa.Fpdu.TotalLength(RdmapCodec.GetUlpduLength(ddp, header, payload.Length))];
        RdmapCodec.WriteFpdu(bytes, ddp, header, payload, Crc || corruptCrc);
        if (corruptCrc)
        {
            bytes[^1] ^= 0x5A;
        }
        return bytes;
    }

    public void SendFpdu(in DdpHeader ddp, in RdmapHeader header, ReadOnlySpan<byte> payload, bool corruptCrc = false) =>
        Send(Fpdu(ddp, header, payload, corruptCrc));

    public DdpHeader NextSend(int length = 0, RdmapOpcode opcode = RdmapOpcode.Send, bool last = true, uint mo = 0) =>
        DdpHeader.CreateUntagged(RdmapControl.Encode(opcode), 0, Msn[0]++, mo, last);

    public static DdpHeader Write(uint stag, ulong to, bool last = true) =>
        DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), stag, to, last);

    public DdpHeader NextReadRequest() => DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.RdmaReadRequest), 1, Msn[1]++, 0, true);

    public MpaStartFrame ReceiveFrame(TimeSpan timeout)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var status = MpaStartFrame.TryRead(_buffer.AsSpan(_start, _end - _start), MpaLimits.Rfc, out MpaStartFrame frame, out int consumed, out WireError error);
            if (status == OperationStatus.Done)
            {
                _start += consumed;
                return frame;
            }
            if (status == OperationStatus.InvalidData)
            {
                throw new InvalidDataException(error.Message);
            }
            Fill(deadline);
        }
    }

    /// <summary>The next FPDU the endpoint sent (no markers), decoded; its CRC is checked when <see cref="Crc"/> is on.</summary>
    public Received ReceiveFpdu(TimeSpan timeout)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var status = RdmaDiag.Wire.Mpa.Fpdu.TryRead(_buffer.AsSpan(_start, _end - _start), Crc, out FpduView fpdu, out WireError error);
            if (status == OperationStatus.Done)
            {
                _start += fpdu.TotalLength;
                Assert.Equal(OperationStatus.Done, RdmapCodec.TryDecode(fpdu.Ulpdu, out RdmapSegment segment, out error));
                return new Received(segment.Ddp, segment.Opcode, segment.Header, segment.Payload.ToArray(), fpdu.Ulpdu.ToArray());
            }
            Assert.Equal(OperationStatus.NeedMoreData, status);
            Fill(deadline);
        }
    }

    /// <summary>Reads FPDUs (skipping Read Responses and the like) until the endpoint's Terminate.</summary>
    public Received ExpectTerminate(TimeSpan timeout)
    {
        while (true)
        {
            Received received = ReceiveFpdu(timeout);
            if (received.Opcode == RdmapOpcode.Terminate)
            {
                return received;
            }
        }
    }

    /// <summary>True when the endpoint closed its sending half (FIN) within the timeout.</summary>
    public bool ReadsEndOfStream(TimeSpan timeout)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        try
        {
            while (true)
            {
                _start = _end = 0;
                if (!Fill(deadline, throwOnEnd: false))
                {
                    return true;
                }
            }
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private bool Fill(long deadline, bool throwOnEnd = true)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        long left = (deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency;
        if (left <= 0)
        {
            throw new TimeoutException($"raw peer: nothing more within the timeout ({_end - _start} octets buffered)");
        }
        Socket.ReceiveTimeout = (int)Math.Max(1, left);
        int n;
        try
        {
            n = Socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new TimeoutException($"raw peer: nothing more within the timeout ({_end - _start} octets buffered)");
        }
        if (n == 0)
        {
            return throwOnEnd ? throw new EndOfStreamException("raw peer: the endpoint closed the stream") : false;
        }
        _end += n;
        return true;
    }

    public void Dispose() => Socket.Dispose();

    internal sealed record Received(DdpHeader Ddp, RdmapOpcode Opcode, RdmapHeader Header, byte[] Payload, byte[] Ulpdu)
    {
        public TerminateHeader Terminate => Header.Terminate;
    }
}
