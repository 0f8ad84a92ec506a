using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Findings;
using static RdmaDiag.Tests.Capture.Frames;

namespace RdmaDiag.Tests.Capture;

public sealed class CaptureFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rdmadiag-capture-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static byte[] Segment(uint seq, int length) =>
        IPv4(A, B, 6, Tcp(40000, 7174, seq, 1, TcpFlags.Ack | TcpFlags.Psh, payload: Enumerable.Range(0, length).Select(i => (byte)i).ToArray()));

    private static List<(long Frame, long Ts, LinkType Link, int Iface, int Orig, byte[] Data)> ReadAll(string path, FindingList findings)
    {
        using var source = CaptureFile.Open(path, findings);
        var list = new List<(long, long, LinkType, int, int, byte[])>();
        while (source.Read(out var p) == PacketReadResult.Packet)
        {
            list.Add((p.Frame, p.TimestampNanos, p.LinkType, p.InterfaceId, p.OriginalLength, p.Data.ToArray()));
        }
        return list;
    }

    /// <summary>Writes a classic pcap file by hand in either byte order and timestamp resolution.</summary>
    private static void WritePcap(string path, bool bigEndian, bool nanos, LinkType link, IEnumerable<(long Ts, byte[] Data)> packets)
    {
        using var f = File.Create(path);
        var h = new byte[24];
        void U32(Span<byte> s, uint v)
        {
            if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(s, v); else BinaryPrimitives.WriteUInt32LittleEndian(s, v);
        }
        void U16(Span<byte> s, ushort v)
        {
            if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(s, v); else BinaryPrimitives.WriteUInt16LittleEndian(s, v);
        }
        U32(h, nanos ? 0xa1b23c4d : 0xa1b2c3d4);
        U16(h.AsSpan(4), 2);
        U16(h.AsSpan(6), 4);
        U32(h.AsSpan(16), 65535);
        U32(h.AsSpan(20), (uint)link);
        f.Write(h);
        foreach (var (ts, data) in packets)
        {
            var r = new byte[16];
            U32(r, (uint)(ts / 1_000_000_000));
            U32(r.AsSpan(4), (uint)(nanos ? ts % 1_000_000_000 : ts % 1_000_000_000 / 1000));
            U32(r.AsSpan(8), (uint)data.Length);
            U32(r.AsSpan(12), (uint)data.Length);
            f.Write(r);
            f.Write(data);
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Pcap_BothByteOrdersAndResolutions_ReadsPacketsAndTimestamps(bool bigEndian, bool nanos)
    {
        var path = PathOf("a.pcap");
        var ts = 1_700_000_000_123_456_789L;
        WritePcap(path, bigEndian, nanos, LinkType.Raw, [(ts, Segment(1, 10)), (ts + 1000, Segment(11, 20))]);

        var packets = ReadAll(path, new FindingList());

        Assert.Equal(2, packets.Count);
        Assert.Equal(nanos ? ts : ts / 1000 * 1000, packets[0].Ts);
        Assert.Equal(Segment(11, 20), packets[1].Data);
        Assert.Equal(LinkType.Raw, packets[1].Link);
        Assert.Equal(2, packets[1].Frame);
    }

    [Fact]
    public void PcapNgWriter_TwoInterfaces_RoundTripsEveryField()
    {
        var path = PathOf("rt.pcapng");
        using (var w = PcapNgWriter.Create(path, "round trip"))
        {
            var raw = w.AddInterface(LinkType.Raw, 65535, "raw0", "tcp port 7174");
            var eth = w.AddInterface(LinkType.Ethernet, 65535, "eth0");
            w.Write(raw, 1_700_000_000_000_000_001, 50, Segment(1, 10));
            w.Write(eth, 1_700_000_000_000_000_999, 1500, Ethernet(Segment(11, 3)));
            w.Commit();
        }

        var packets = ReadAll(path, new FindingList());

        Assert.Equal(2, packets.Count);
        Assert.Equal((1L, 1_700_000_000_000_000_001L, LinkType.Raw, 0, 50), (packets[0].Frame, packets[0].Ts, packets[0].Link, packets[0].Iface, packets[0].Orig));
        Assert.Equal((2L, 1_700_000_000_000_000_999L, LinkType.Ethernet, 1, 1500), (packets[1].Frame, packets[1].Ts, packets[1].Link, packets[1].Iface, packets[1].Orig));
        Assert.Equal(Ethernet(Segment(11, 3)), packets[1].Data);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void PcapNgWriter_DisposedWithoutCommit_LeavesNoFile()
    {
        var path = PathOf("never.pcapng");
        using (var w = PcapNgWriter.Create(path))
        {
            w.AddInterface(LinkType.Raw, 65535);
            w.Write(0, 1, 10, Segment(1, 1));
        }

        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void PcapNgWriter_UnwritableDirectory_UserInputException()
    {
        var e = Assert.Throws<UserInputException>(() => PcapNgWriter.Create("/nonexistent-dir/x.pcapng"));
        Assert.Contains("/nonexistent-dir/x.pcapng", e.Message);
    }

    [Fact]
    public void PcapNg_BigEndianWithMicrosecondAndBinaryResolution_UnknownBlocksSkipped()
    {
        var path = PathOf("be.pcapng");
        using (var f = File.Create(path))
        {
            f.Write(BeBlock(0x0A0D0D0A, [0x1A, 0x2B, 0x3C, 0x4D, 0, 1, 0, 0, .. Enumerable.Repeat((byte)0xFF, 8)]));
            f.Write(BeBlock(1, [0, 101, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0]));
            f.Write(BeBlock(1, [0, 101, 0, 0, 0, 0, 0xFF, 0xFF, 0, 9, 0, 1, 0x80 | 10, 0, 0, 0, 0, 0, 0, 0]));
            f.Write(BeBlock(0x0BAD, [1, 2, 3, 4]));
            f.Write(BeBlock(4, [0, 0, 0, 0]));
            f.Write(BeEpb(0, 1_000_001, Segment(1, 10)));
            f.Write(BeEpb(1, 3 * 1024, Segment(11, 5)));
        }

        var packets = ReadAll(path, new FindingList());

        Assert.Equal(2, packets.Count);
        Assert.Equal(1_000_001_000L, packets[0].Ts);
        Assert.Equal(3_000_000_000L, packets[1].Ts);
        Assert.Equal(Segment(11, 5), packets[1].Data);
    }

    private static byte[] BeBlock(uint type, byte[] body)
    {
        var padded = (body.Length + 3) & ~3;
        var b = new byte[12 + padded];
        BinaryPrimitives.WriteUInt32BigEndian(b, type);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)b.Length);
        body.CopyTo(b, 8);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(b.Length - 4), (uint)b.Length);
        return b;
    }

    private static byte[] BeEpb(uint iface, ulong ts, byte[] data)
    {
        var body = new byte[20 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(body, iface);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), (uint)(ts >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(8), (uint)ts);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(12), (uint)data.Length);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(16), (uint)data.Length);
        data.CopyTo(body, 20);
        return BeBlock(6, body);
    }

    [Theory]
    [InlineData("pcap")]
    [InlineData("pcapng")]
    public void TruncatedLastPacket_FindingAndPartialPacketNoException(string format)
    {
        var path = PathOf("cut." + format);
        if (format == "pcap")
        {
            WritePcap(path, false, true, LinkType.Raw, [(1, Segment(1, 10)), (2, Segment(11, 400))]);
        }
        else
        {
            using var w = PcapNgWriter.Create(path);
            w.AddInterface(LinkType.Raw, 65535);
            w.Write(0, 1, 50, Segment(1, 10));
            w.Write(0, 2, 440, Segment(11, 400));
            w.Commit();
        }
        var length = new FileInfo(path).Length;
        using (var f = File.OpenWrite(path))
        {
            f.SetLength(length - 300);
        }
        var findings = new FindingList();

        var tracker = CaptureAnalysis.RunFile(path, findings);

        Assert.Equal(2, tracker.Counters.Packets);
        var f1 = Assert.Single(findings.Items, f => f.RuleId == "capture-truncated-packet");
        Assert.Equal(2, f1.Frame);
    }

    [Fact]
    public void NotACapture_UserInputExceptionNamesFile()
    {
        var path = PathOf("text.pcap");
        File.WriteAllText(path, "hello, this is not a capture");

        var e = Assert.Throws<UserInputException>(() => CaptureFile.Open(path, new FindingList()));

        Assert.Contains("text.pcap", e.Message);
        Assert.Contains("not a capture", e.Message);
    }

    [Fact]
    public void EmptyOrMissingFile_UserInputException()
    {
        var empty = PathOf("empty.pcap");
        File.WriteAllBytes(empty, []);

        Assert.Contains("empty", Assert.Throws<UserInputException>(() => CaptureFile.Open(empty, new FindingList())).Message);
        Assert.Contains("cannot open", Assert.Throws<UserInputException>(() => CaptureFile.Open(PathOf("missing.pcap"), new FindingList())).Message);
    }

    [Fact]
    public void UnsupportedLinkType_UserInputException()
    {
        var path = PathOf("wifi.pcap");
        WritePcap(path, false, false, (LinkType)127, []);

        Assert.Contains("link type 127", Assert.Throws<UserInputException>(() => CaptureFile.Open(path, new FindingList())).Message);
    }

    [ToolFact("tshark")]
    public void PcapNgWriter_Output_TsharkAgreesOnSeqAndLength()
    {
        var path = PathOf("oracle.pcapng");
        var expected = new List<(uint Seq, int Len)>();
        using (var w = PcapNgWriter.Create(path, "oracle"))
        {
            var raw = w.AddInterface(LinkType.Raw, 65535, filter: "tcp");
            var eth = w.AddInterface(LinkType.Ethernet, 65535);
            for (var i = 0; i < 20; i++)
            {
                var seq = 0xFFFFF000u + (uint)(i * 300);
                var data = Segment(seq, 100 + i);
                if (i % 2 == 0) w.Write(raw, i * 1000L, data.Length, data); else w.Write(eth, i * 1000L, data.Length + 14, Ethernet(data));
                expected.Add((seq, 100 + i));
            }
            w.Commit();
        }

        var tshark = Tshark(path, "tcp.seq_raw", "tcp.len");
        var ours = new List<(uint, int)>();
        using (var source = CaptureFile.Open(path, new FindingList()))
        {
            while (source.Read(out var p) == PacketReadResult.Packet)
            {
                var parsed = PacketParser.Parse(p.LinkType, p.Data);
                ours.Add((parsed.Tcp.Sequence, parsed.PayloadLength));
            }
        }

        Assert.Equal(expected, ours);
        Assert.Equal(expected.Select(e => $"{e.Seq}\t{e.Len}"), tshark);
    }

    [ToolFact("tcpdump", "tshark")]
    public async Task TcpdumpCaptures_UsAndNs_OurFieldsMatchTshark()
    {
        foreach (var precision in new[] { "micro", "nano" })
        {
            var path = PathOf($"lo-{precision}.pcap");
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            using var tcpdump = Process.Start(new ProcessStartInfo("tcpdump", ["-i", "lo", "-U", "--immediate-mode", "-Z", "root", "-s", "0", "--time-stamp-precision", precision, "-w", path, $"tcp port {port}"])
            {
                RedirectStandardError = true,
            })!;
            await WaitForListening(tcpdump);
            await Exchange(listener, port);
            listener.Stop();
            await Task.Delay(300);
            Process.Start("kill", ["-INT", tcpdump.Id.ToString()])!.WaitForExit();
            await tcpdump.WaitForExitAsync();

            var tshark = Tshark(path, "frame.number", "tcp.stream", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "frame.time_epoch");
            var ours = new List<string>();
            var findings = new FindingList();
            var tracker = new TcpTracker(findings);
            using (var source = CaptureFile.Open(path, findings))
            {
                while (source.Read(out var p) == PacketReadResult.Packet)
                {
                    var parsed = PacketParser.Parse(p.LinkType, p.Data);
                    tracker.Process(p);
                    var flow = tracker.Flows[^1].Id;
                    ours.Add($"{p.Frame}\t{flow}\t{parsed.Tcp.Sequence}\t{parsed.Tcp.Acknowledgment}\t{parsed.PayloadLength}\t{p.TimestampNanos / 1_000_000_000}.{p.TimestampNanos % 1_000_000_000:D9}");
                }
            }
            tracker.Complete();

            Assert.True(ours.Count >= 10, $"only {ours.Count} packets captured by tcpdump");
            Assert.Equal(tshark, ours);
            Assert.DoesNotContain(findings.Items, f => f.Severity != FindingSeverity.Note);
            Assert.Equal(20 + 5 * 3000, tracker.Flows[0].Client.StreamBytes);
        }
    }

    internal static async Task WaitForListening(Process tcpdump)
    {
        var line = await tcpdump.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("listening", line ?? "");
        _ = tcpdump.StandardError.ReadToEndAsync();
        await Task.Delay(200);
    }

    /// <summary>The client sends an MPA Request key and five 3000-octet messages; the server echoes 100 octets for each.</summary>
    internal static async Task Exchange(TcpListener listener, int port)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        using var server = await listener.AcceptTcpClientAsync();
        var cs = client.GetStream();
        var ss = server.GetStream();
        await cs.WriteAsync("MPA ID Req Frame\0\0\0\0"u8.ToArray());
        var buffer = new byte[65536];
        await ss.ReadExactlyAsync(buffer.AsMemory(0, 20));
        for (var i = 0; i < 5; i++)
        {
            await cs.WriteAsync(Enumerable.Repeat((byte)i, 3000).ToArray());
            await ss.ReadExactlyAsync(buffer.AsMemory(0, 3000));
            await ss.WriteAsync(new byte[100]);
            await cs.ReadExactlyAsync(buffer.AsMemory(0, 100));
        }
        client.Client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await ss.ReadAsync(buffer));
        server.Client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await cs.ReadAsync(buffer));
    }

    internal static List<string> Tshark(string path, params string[] fields)
    {
        var args = new List<string> { "-r", path, "-T", "fields", "-o", "tcp.relative_sequence_numbers:FALSE" };
        foreach (var f in fields)
        {
            args.Add("-e");
            args.Add(f);
        }
        var psi = new ProcessStartInfo("tshark", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
