using System.Buffers.Binary;
using System.Net;

namespace RdmaDiag.Capture.Iwarp.Synth;

/// <summary>Which end of a <see cref="SynthTcpConnection"/> sends.</summary>
public enum SynthSide : byte
{
    /// <summary>The end that sends the SYN.</summary>
    Client = 0,
    Server = 1,
}

/// <summary>
/// Writes one TCP connection over IPv4 and Ethernet into a pcapng file, segment by segment, with correct
/// IPv4 and TCP checksums, so that tshark and RdmaDiag both accept every frame. Sequence and acknowledgment
/// numbers follow the bytes each side sent; <see cref="Lose"/> advances a side's sequence without writing a
/// frame, which is how a capture that dropped packets looks. One frame buffer is reused: no allocation per segment.
/// </summary>
/// <remarks>
/// Frame layout: Ethernet (14) | IPv4 (20, DF, TTL 64) | TCP (20, or 24 with the MSS option on SYNs) | payload.
/// </remarks>
public sealed class SynthTcpConnection
{
    private const int EthernetLength = 14;
    private const int Ipv4Length = 20;
    private const int TcpLength = 20;
    private const int MaxPayload = 65535 - Ipv4Length - TcpLength - 4;

    private readonly PcapNgWriter _writer;
    private readonly int _interface;
    private readonly End[] _ends;
    private readonly byte[] _frame = new byte[EthernetLength + Ipv4Length + TcpLength + 4 + MaxPayload];
    private ushort _ipId;

    private sealed class End(IPAddress address, ushort port, byte macLast, uint isn)
    {
        public readonly byte[] Address = address.GetAddressBytes();
        public readonly ushort Port = port;
        public readonly byte MacLast = macLast;
        public uint Next = isn;
        public bool SynSent;
    }

    /// <param name="writer">Where frames go; <paramref name="interfaceId"/> must be an Ethernet interface of it.</param>
    /// <param name="startNanos">Timestamp of the first frame; each frame advances the clock by <see cref="StepNanos"/>.</param>
    public SynthTcpConnection(PcapNgWriter writer, int interfaceId, IPEndPoint client, IPEndPoint server, uint clientIsn, uint serverIsn, long startNanos)
    {
        if (client.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || server.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw new ArgumentException("the synthesizer writes IPv4 only");
        }
        _writer = writer;
        _interface = interfaceId;
        _ends = [new End(client.Address, (ushort)client.Port, 1, clientIsn), new End(server.Address, (ushort)server.Port, 2, serverIsn)];
        ClockNanos = startNanos;
    }

    /// <summary>Timestamp the next frame gets.</summary>
    public long ClockNanos { get; set; }

    /// <summary>Time between two frames.</summary>
    public long StepNanos { get; set; } = 20_000;

    /// <summary>TCP window written in every segment.</summary>
    public ushort Window { get; set; } = 0xFFFF;

    /// <summary>Octets of payload <paramref name="side"/> has sent so far (the next sequence number relative to its ISN + 1).</summary>
    public uint NextSequence(SynthSide side) => _ends[(int)side].Next;

    /// <summary>SYN (with MSS <paramref name="clientMss"/>), SYN-ACK (MSS <paramref name="serverMss"/>), ACK.</summary>
    public void Handshake(ushort clientMss = 1460, ushort serverMss = 1460)
    {
        Syn(SynthSide.Client, clientMss);
        Syn(SynthSide.Server, serverMss);
        Ack(SynthSide.Client);
    }

    /// <summary>
    /// A SYN from the client, or a SYN-ACK from the server, announcing <paramref name="mss"/>. Sent again
    /// (a SYN retransmission) it carries the same sequence number.
    /// </summary>
    public void Syn(SynthSide side, ushort mss = 1460)
    {
        var end = _ends[(int)side];
        var flags = side == SynthSide.Client ? TcpFlags.Syn : TcpFlags.Syn | TcpFlags.Ack;
        if (end.SynSent)
        {
            Emit(side, end.Next - 1, flags, [], mss);
            return;
        }
        Emit(side, end.Next, flags, [], mss);
        end.Next++;
        end.SynSent = true;
    }

    /// <summary>A pure ACK from <paramref name="side"/> for everything the peer has sent (lost octets included).</summary>
    public void Ack(SynthSide side) => Emit(side, _ends[(int)side].Next, TcpFlags.Ack, [], 0);

    /// <summary>One segment carrying <paramref name="payload"/> (PSH, ACK).</summary>
    public void Segment(SynthSide side, ReadOnlySpan<byte> payload)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payload.Length, MaxPayload, nameof(payload));
        var end = _ends[(int)side];
        Emit(side, end.Next, TcpFlags.Ack | TcpFlags.Psh, payload, 0);
        end.Next += (uint)payload.Length;
    }

    /// <summary>Cuts <paramref name="stream"/> into segments of at most <paramref name="maxSegment"/> octets.</summary>
    public void Send(SynthSide side, ReadOnlySpan<byte> stream, int maxSegment)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSegment, 1);
        while (!stream.IsEmpty)
        {
            var n = Math.Min(maxSegment, stream.Length);
            Segment(side, stream[..n]);
            stream = stream[n..];
        }
    }

    /// <summary>Sends <paramref name="stream"/> cut at the given lengths (the last piece takes the rest).</summary>
    public void SendCut(SynthSide side, ReadOnlySpan<byte> stream, params int[] cuts)
    {
        foreach (var c in cuts)
        {
            var n = Math.Min(c, stream.Length);
            Segment(side, stream[..n]);
            stream = stream[n..];
        }
        if (!stream.IsEmpty)
        {
            Segment(side, stream);
        }
    }

    /// <summary>
    /// <paramref name="length"/> octets that <paramref name="side"/> sent but the capture never saw: the
    /// sequence number advances and no frame is written. A later ACK from the peer covers them.
    /// </summary>
    public void Lose(SynthSide side, int length) => _ends[(int)side].Next += (uint)length;

    /// <summary>Sends <paramref name="payload"/> again at sequence <paramref name="seq"/> (a retransmission).</summary>
    public void Retransmit(SynthSide side, uint seq, ReadOnlySpan<byte> payload) => Emit(side, seq, TcpFlags.Ack | TcpFlags.Psh, payload, 0);

    public void Fin(SynthSide side)
    {
        var end = _ends[(int)side];
        Emit(side, end.Next, TcpFlags.Fin | TcpFlags.Ack, [], 0);
        end.Next++;
    }

    public void Rst(SynthSide side) => Emit(side, _ends[(int)side].Next, TcpFlags.Rst | TcpFlags.Ack, [], 0);

    /// <summary>Lets time pass without traffic.</summary>
    public void Wait(TimeSpan span) => ClockNanos += (long)(span.TotalMilliseconds * 1_000_000);

    private void Emit(SynthSide side, uint seq, TcpFlags flags, ReadOnlySpan<byte> payload, ushort mss)
    {
        var from = _ends[(int)side];
        var to = _ends[1 - (int)side];
        var tcpLength = TcpLength + (mss != 0 ? 4 : 0);
        var total = EthernetLength + Ipv4Length + tcpLength + payload.Length;
        var f = _frame.AsSpan(0, total);

        // Ethernet: locally administered MACs 02:00:00:00:00:0N, EtherType IPv4.
        f[..12].Clear();
        f[0] = 0x02;
        f[5] = to.MacLast;
        f[6] = 0x02;
        f[11] = from.MacLast;
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], 0x0800);

        var ip = f.Slice(EthernetLength, Ipv4Length);
        ip[0] = 0x45;
        ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(Ipv4Length + tcpLength + payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], _ipId++);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
        ip[8] = 64;
        ip[9] = 6;
        ip[10] = 0;
        ip[11] = 0;
        from.Address.CopyTo(ip[12..]);
        to.Address.CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Finish(InternetChecksum.Add(0, ip)));

        var tcp = f.Slice(EthernetLength + Ipv4Length, tcpLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, from.Port);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], to.Port);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        var acking = (flags & TcpFlags.Ack) != 0;
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], acking ? to.Next : 0);
        tcp[12] = (byte)((tcpLength / 4) << 4);
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], Window);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[16..], 0);
        if (mss != 0)
        {
            tcp[20] = 2;
            tcp[21] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[22..], mss);
        }
        payload.CopyTo(f[(EthernetLength + Ipv4Length + tcpLength)..]);

        // TCP checksum: pseudo-header (source, destination, zero, protocol 6, TCP length), header, payload.
        var segmentLength = tcpLength + payload.Length;
        ulong sum = InternetChecksum.Add(0, ip.Slice(12, 8));
        sum += 6u + (uint)segmentLength;
        sum = InternetChecksum.Add(sum, f.Slice(EthernetLength + Ipv4Length, segmentLength));
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Finish(sum));

        _writer.Write(_interface, ClockNanos, total, f);
        ClockNanos += StepNanos;
    }
}

/// <summary>The Internet checksum (RFC 1071): ones' complement sum of big-endian 16-bit words.</summary>
public static class InternetChecksum
{
    /// <summary>Adds <paramref name="data"/> to a running sum; an odd final octet is padded with zero.</summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            var v = BinaryPrimitives.ReadUInt64BigEndian(data);
            sum += (v >> 48) + ((v >> 32) & 0xFFFF) + ((v >> 16) & 0xFFFF) + (v & 0xFFFF);
            data = data[8..];
        }
        while (data.Length >= 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data);
            data = data[2..];
        }
        if (data.Length == 1)
        {
            sum += (ulong)data[0] << 8;
        }
        return sum;
    }

    /// <summary>Folds the carries and complements: the value to write into the checksum field.</summary>
    public static ushort Finish(ulong sum)
    {
        while ((sum >> 16) != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }
}
