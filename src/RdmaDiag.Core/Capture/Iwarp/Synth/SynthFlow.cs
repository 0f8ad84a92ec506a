using System.Net;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Capture.Iwarp.Synth;

/// <summary>
/// One synthetic iWARP connection: a <see cref="SynthTcpConnection"/> plus an <see cref="MpaStreamWriter"/> per
/// side. <see cref="Connect"/> does the TCP and MPA handshakes and configures CRC and markers as the start
/// frames negotiate them; <see cref="Flush"/> sends what a side has written.
/// </summary>
public sealed class SynthFlow
{
    public SynthFlow(PcapNgWriter writer, int interfaceId, int index, ushort serverPort, long startNanos)
    {
        var client = new IPEndPoint(IPAddress.Parse($"192.168.{10 + index / 200}.{1 + 2 * (index % 100)}"), 40000 + index);
        var server = new IPEndPoint(IPAddress.Parse($"192.168.{10 + index / 200}.{2 + 2 * (index % 100)}"), serverPort);
        Tcp = new SynthTcpConnection(writer, interfaceId, client, server, 0x1000_0000u + (uint)index * 7919u, 0x7000_0000u + (uint)index * 104729u, startNanos);
    }

    public SynthTcpConnection Tcp { get; }

    public MpaStreamWriter Client { get; } = new();

    public MpaStreamWriter Server { get; } = new();

    public MpaStreamWriter Side(SynthSide side) => side == SynthSide.Client ? Client : Server;

    /// <summary>TCP handshake (unless <paramref name="tcpHandshake"/> is false), Request from the client, Reply from the server.</summary>
    public void Connect(in MpaStartFrame request, in MpaStartFrame reply, bool tcpHandshake = true, ushort mss = 1460)
    {
        if (tcpHandshake)
        {
            Tcp.Handshake(mss, mss);
        }
        Client.StartFrame(request);
        Flush(SynthSide.Client);
        Server.StartFrame(reply);
        Flush(SynthSide.Server);
        Negotiated(request, reply);
    }

    /// <summary>Sets CRC and markers on both writers as these start frames negotiate them.</summary>
    public void Negotiated(in MpaStartFrame request, in MpaStartFrame reply)
    {
        var crc = request.CrcPreferred || reply.CrcPreferred;
        Client.Crc = Server.Crc = crc;
        Client.Markers = reply.MarkersRequired;
        Server.Markers = request.MarkersRequired;
        Client.Mulpdu = Mulpdu.FromEmss(1460, Client.Markers);
        Server.Mulpdu = Mulpdu.FromEmss(1460, Server.Markers);
    }

    /// <summary>Sends what <paramref name="side"/> has written, cut every <paramref name="maxSegment"/> octets.</summary>
    public void Flush(SynthSide side, int maxSegment = 1460)
    {
        var w = Side(side);
        Tcp.Send(side, w.Pending, maxSegment);
        w.Clear();
    }

    /// <summary>Sends what <paramref name="side"/> has written, several whole frames per segment, cut only between frames.</summary>
    public void FlushPacked(SynthSide side, int maxSegment = 1460)
    {
        var w = Side(side);
        var pending = w.Pending;
        var start = 0;
        var last = 0;
        foreach (var end in w.FrameEnds)
        {
            if (end - start > maxSegment && last > start)
            {
                Tcp.Send(side, pending[start..last], maxSegment);
                start = last;
            }
            last = end;
        }
        if (last > start)
        {
            Tcp.Send(side, pending[start..last], maxSegment);
        }
        w.Clear();
    }

    /// <summary>Sends what <paramref name="side"/> has written cut at the given lengths, repeating the pattern.</summary>
    public void FlushCut(SynthSide side, params int[] pattern)
    {
        var w = Side(side);
        var pending = w.Pending;
        var i = 0;
        while (!pending.IsEmpty)
        {
            var n = Math.Min(pattern[i++ % pattern.Length], pending.Length);
            Tcp.Segment(side, pending[..n]);
            pending = pending[n..];
        }
        w.Clear();
    }

    /// <summary>FIN from the client, ACK, FIN from the server, ACK.</summary>
    public void Close()
    {
        Tcp.Fin(SynthSide.Client);
        Tcp.Ack(SynthSide.Server);
        Tcp.Fin(SynthSide.Server);
        Tcp.Ack(SynthSide.Client);
    }
}
