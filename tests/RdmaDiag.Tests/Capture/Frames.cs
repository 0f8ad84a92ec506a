using System.Buffers.Binary;
using System.Net;
using RdmaDiag.Capture;

namespace RdmaDiag.Tests.Capture;

/// <summary>Builds frames by hand for parser and tracker tests.</summary>
internal static class Frames
{
    public static readonly IPAddress A = IPAddress.Parse("10.0.0.1");
    public static readonly IPAddress B = IPAddress.Parse("10.0.0.2");

    /// <summary>A TCP header with optional options (already encoded, padded to 4).</summary>
    public static byte[] Tcp(ushort sport, ushort dport, uint seq, uint ack, TcpFlags flags, ushort window = 65535, byte[]? options = null, byte[]? payload = null)
    {
        options ??= [];
        payload ??= [];
        var h = new byte[20 + options.Length + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(h, sport);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(8), ack);
        h[12] = (byte)(((20 + options.Length) / 4) << 4);
        h[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(14), window);
        options.CopyTo(h, 20);
        payload.CopyTo(h, 20 + options.Length);
        return h;
    }

    /// <summary>MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 (what Linux puts in a SYN).</summary>
    public static byte[] SynOptions(ushort mss = 1460) =>
    [
        2, 4, (byte)(mss >> 8), (byte)mss,
        4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0,
        1, 3, 3, 7,
    ];

    public static byte[] IPv4(IPAddress src, IPAddress dst, byte protocol, byte[] l4, byte[]? options = null, ushort flagsFragment = 0x4000)
    {
        options ??= [];
        var ihl = 20 + options.Length;
        var p = new byte[ihl + l4.Length];
        p[0] = (byte)(0x40 | (ihl / 4));
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(6), flagsFragment);
        p[8] = 64;
        p[9] = protocol;
        src.TryWriteBytes(p.AsSpan(12), out _);
        dst.TryWriteBytes(p.AsSpan(16), out _);
        options.CopyTo(p, 20);
        l4.CopyTo(p, ihl);
        return p;
    }

    public static byte[] IPv6(IPAddress src, IPAddress dst, byte nextHeader, byte[] rest)
    {
        var p = new byte[40 + rest.Length];
        p[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)rest.Length);
        p[6] = nextHeader;
        p[7] = 64;
        src.TryWriteBytes(p.AsSpan(8), out _);
        dst.TryWriteBytes(p.AsSpan(24), out _);
        rest.CopyTo(p, 40);
        return p;
    }

    public static byte[] Ethernet(byte[] ip, ushort etherType = 0x0800, params ushort[] vlans)
    {
        var f = new byte[14 + 4 * vlans.Length + ip.Length];
        var at = 12;
        foreach (var v in vlans)
        {
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(at), 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(at + 2), v);
            at += 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(at), etherType);
        ip.CopyTo(f, at + 2);
        return f;
    }

    /// <summary>A flow-building helper: raw IPv4 frames between A:sport and B:dport, fed straight to a tracker.</summary>
    public sealed class Conversation(TcpTracker tracker, ushort clientPort = 40000, ushort serverPort = 7174)
    {
        private long _frame;

        public long Frame => _frame;

        public void FromClient(uint seq, uint ack, TcpFlags flags, byte[]? payload = null, ushort window = 65535, byte[]? options = null, long tsNanos = -1) =>
            Send(A, B, clientPort, serverPort, seq, ack, flags, payload, window, options, tsNanos);

        public void FromServer(uint seq, uint ack, TcpFlags flags, byte[]? payload = null, ushort window = 65535, byte[]? options = null, long tsNanos = -1) =>
            Send(B, A, serverPort, clientPort, seq, ack, flags, payload, window, options, tsNanos);

        public void Raw(byte[] ipPacket, long tsNanos = -1)
        {
            _frame++;
            var packet = new RawPacket(_frame, tsNanos >= 0 ? tsNanos : _frame * 1_000_000, LinkType.Raw, 0, ipPacket.Length, ipPacket);
            tracker.Process(packet);
        }

        private void Send(IPAddress src, IPAddress dst, ushort sp, ushort dp, uint seq, uint ack, TcpFlags flags, byte[]? payload, ushort window, byte[]? options, long ts) =>
            Raw(IPv4(src, dst, 6, Tcp(sp, dp, seq, ack, flags, window, options, payload)), ts);

        /// <summary>SYN, SYN-ACK, ACK with ISNs 1000 (client) and 5000 (server).</summary>
        public void Handshake(ushort clientMss = 1460, ushort serverMss = 1460)
        {
            FromClient(1000, 0, TcpFlags.Syn, options: SynOptions(clientMss));
            FromServer(5000, 1001, TcpFlags.Syn | TcpFlags.Ack, options: SynOptions(serverMss));
            FromClient(1001, 5001, TcpFlags.Ack);
        }
    }
}

/// <summary>Records every consumer call as text, and the bytes per direction.</summary>
internal sealed class RecordingConsumer : IStreamConsumer
{
    public readonly List<string> Calls = [];
    public readonly MemoryStream[] Bytes = [new(), new()];
    public readonly List<(uint Seq, int Length, long Frame)> Data = [];

    public void OnData(FlowDirection direction, uint seq, ReadOnlySpan<byte> data, long frame, long timestampNanos)
    {
        Calls.Add($"data {direction} {seq} {data.Length} f{frame}");
        Bytes[(int)direction].Write(data);
        Data.Add((seq, data.Length, frame));
    }

    public void OnGap(FlowDirection direction, uint seq, uint length, GapReason reason, long frame, long timestampNanos) =>
        Calls.Add($"gap {direction} {seq} {length} {reason}");

    public void OnFin(FlowDirection direction, uint seq, long frame, long timestampNanos) => Calls.Add($"fin {direction} {seq}");

    public void OnRst(FlowDirection direction, uint seq, long frame, long timestampNanos) => Calls.Add($"rst {direction}");

    public void OnEnd() => Calls.Add("end");
}

/// <summary>A [Fact] that skips with a reason when the test needs root (raw sockets, netns, nftables).</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Environment.UserName != "root" && !IsRoot())
        {
            Skip = "needs root (live capture, network namespaces): run the tests as root, e.g. sudo ./test";
        }
        else if (!PcapLibrary.IsAvailable)
        {
            Skip = PcapLibrary.UnavailableReason;
        }
    }

    private static bool IsRoot()
    {
        try
        {
            return File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0");
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>A [Fact] that skips when a command-line tool (tshark, tcpdump, nft, ip) is missing.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(params string[] tools)
    {
        foreach (var tool in tools)
        {
            if (!Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, tool))))
            {
                Skip = $"needs '{tool}' on PATH: apt-get install {PackageOf(tool)}";
                return;
            }
        }
        if (tools.Any(t => t is "tcpdump" or "ip" or "nft") && Environment.UserName != "root")
        {
            Skip = "needs root to capture and to create network namespaces: run the tests as root";
        }
    }

    private static string PackageOf(string tool) => tool switch
    {
        "tshark" => "tshark",
        "tcpdump" => "tcpdump",
        "nft" => "nftables",
        "ip" => "iproute2",
        _ => tool,
    };
}
