using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp.Synth;

/// <summary>
/// One sample capture of captures/: its file name, what it shows, the findings <c>rdmadiag decode</c> must
/// report (rule ids, repeated as often as they occur) and the verdict.
/// </summary>
/// <param name="CutOctets">Octets removed from the end of the file after writing (a capture cut mid-packet).</param>
public sealed record SampleCapture(string FileName, string Shows, IReadOnlyList<string> ExpectedRules, VerdictStatus Verdict, Action<SampleBuilder> Build,
    int CutOctets = 0)
{
    /// <summary>Writes the capture to <paramref name="path"/>.</summary>
    public void Write(string path)
    {
        using (var writer = PcapNgWriter.Create(path, $"RdmaDiag sample capture: {FileName}"))
        {
            Build(new SampleBuilder(writer));
            writer.Commit();
        }
        if (CutOctets > 0)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
            file.SetLength(file.Length - CutOctets);
        }
    }

    /// <summary>The expected findings as "rule ×N, rule" for a README line.</summary>
    public string ExpectedText => ExpectedRules.Count == 0
        ? "none"
        : string.Join(", ", ExpectedRules.GroupBy(r => r).Select(g => g.Count() == 1 ? g.Key : $"{g.Key} ×{g.Count()}"));
}

/// <summary>Lays flows one after another in one pcapng file (one Ethernet interface).</summary>
public sealed class SampleBuilder
{
    /// <summary>2024-05-01 10:00:00 UTC, so every sample has the same timestamps.</summary>
    public const long Epoch = 1_714_557_600L * 1_000_000_000;

    private readonly int _interface;
    private int _flows;
    private long _clock = Epoch;

    public SampleBuilder(PcapNgWriter writer)
    {
        Writer = writer;
        _interface = writer.AddInterface(LinkType.Ethernet, 262144, "synth0");
    }

    public PcapNgWriter Writer { get; }

    /// <summary>A new flow to <paramref name="serverPort"/>, starting after the previous one ended.</summary>
    public SynthFlow Flow(ushort serverPort)
    {
        if (_flows > 0)
        {
            _clock += 1_000_000;
        }
        var flow = new SynthFlow(Writer, _interface, _flows++, serverPort, _clock);
        _last = flow;
        return flow;
    }

    private SynthFlow? _last;

    /// <summary>Moves the clock past the last flow's last frame.</summary>
    public void Next() => _clock = _last?.Tcp.ClockNanos ?? _clock;
}

/// <summary>
/// The sample captures in captures/, synthesized with the wire codecs and the pcapng writer (correct IPv4/TCP
/// checksums, a TCP handshake first unless the sample is about its absence). Deterministic: the same
/// code writes the same packets.
/// </summary>
public static class SampleCaptures
{
    public const string HowMade = "`SampleCaptures` (src/RdmaDiag.Core/Capture/Iwarp/Synth): wire codecs → TCP segments → pcapng writer";

    private const ushort NfsRdma = 20049;
    private const ushort SmbDirect = 5445;
    private const ushort Iser = 3260;
    private const ushort NvmeRdma = 4420;

    private static readonly MpaV2Block V2 = new(16, 16);
    private static readonly byte[] Rfc8797 = Convert.FromHexString("F6AB0E1801000303");

    public static IReadOnlyList<SampleCapture> All { get; } =
    [
        new("all-opcodes.pcapng",
            "MPA v2 (S=1, peer-to-peer with a zero-length RDMA Write RTR), CRC on; every opcode but Terminate (see terminates.pcapng): RDMA Write, Read Request and Response, the four Sends, Immediate Data with and without SE (0x8, 0x9), Atomic FetchAdd and CmpSwap with their responses; orderly close",
            ["tcp-fin", "tcp-fin"], VerdictStatus.Ok, AllOpcodes),
        new("many-fpdus-per-segment.pcapng",
            "MPA Rev 1, CRC on; 200 small Sends each way packed many whole FPDUs per 1460-octet segment",
            ["tcp-fin", "tcp-fin"], VerdictStatus.Ok, ManyPerSegment),
        new("split-fpdus.pcapng",
            "MPA Rev 1, CRC off; 8000-octet RDMA Writes in 1460-octet FPDUs cut into segments of 1000, 1, 777, 1460, 3 and 512 octets (the ULPDU_Length field itself split)",
            ["tcp-fin", "tcp-fin"], VerdictStatus.Ok, SplitFpdus),
        new("markers.pcapng",
            "MPA Rev 1 with M=1 both ways and CRC on: markers every 512 octets in both directions, FPDUs spanning markers, markers between PAD and CRC, several FPDUs per segment",
            ["mpa-markers-requested", "mpa-markers-requested", "tcp-fin", "tcp-fin"], VerdictStatus.Warning, Markers),
        new("crc-error.pcapng",
            "CRC negotiated; the third Send carries a wrong CRC32c; the receiver answers with a Terminate (MPA CRC error, 2/0/0x02) and a reset",
            ["mpa-crc-bad", "rdmap-terminate", "tcp-rst-mid-stream"], VerdictStatus.Failed, CrcError),
        new("crc-unnegotiated.pcapng",
            "C=0 in both start frames, but both sides still put valid CRC32c values in their FPDUs",
            ["mpa-crc-unnegotiated", "tcp-fin", "tcp-fin"], VerdictStatus.Ok, CrcUnnegotiated),
        new("reject.pcapng",
            "MPA v2 Request with RFC 8797 private data; the responder rejects it (Reply R=1) with an ASCII reason in its private data",
            ["mpa-reply-rejected", "tcp-fin", "tcp-fin"], VerdictStatus.Failed, Reject),
        new("request-no-reply.pcapng",
            "MPA Request acknowledged by TCP but never answered; the initiator resets the connection after 10 s (Linux siw's MPA timeout)",
            ["mpa-request-no-reply", "tcp-rst-mid-stream"], VerdictStatus.Failed, RequestNoReply),
        new("v2-negotiation.pcapng",
            "Flow 0: Request Rev 2, Reply Rev 1. Flow 1: RFC 6581 IRD/ORD that do not fit and no common RTR type, so the initiator sends Terminate 2/0/0x07 (no matching RTR)",
            ["mpa-revision-mismatch", "tcp-fin", "tcp-fin", "mpa-v2-negotiation", "rdmap-terminate", "tcp-fin", "tcp-fin"], VerdictStatus.Failed, V2Negotiation),
        new("terminates.pcapng",
            "Seven connections, each ended by a Terminate of a different layer: RDMAP protection with an untagged copy and siw's R=1 without RDMA header, RDMAP protection with DDP and Read Request copies, RDMAP unexpected opcode after Immediate Data, RDMAP invalid version with a tagged copy, DDP untagged no buffer, DDP tagged invalid STag, and cxgb4's 0x23 MPA CRC error",
            ["rdmap-terminate", "tcp-rst-mid-stream", "rdmap-terminate", "tcp-rst-mid-stream", "rdmap-terminate", "tcp-rst-mid-stream",
             "rdmap-version", "rdmap-terminate", "tcp-rst-mid-stream", "rdmap-terminate", "tcp-rst-mid-stream", "rdmap-terminate", "tcp-rst-mid-stream",
             "mpa-crc-bad", "rdmap-terminate", "tcp-rst-mid-stream"], VerdictStatus.Failed, Terminates),
        new("malformed.pcapng",
            "CRC-verified FPDUs that are not valid RDMAP: DDP version 2, unassigned opcode 0xC, a 24-octet Read Request header, a Send on queue 1",
            ["ddp-version", "rdmap-malformed", "rdmap-malformed", "rdmap-malformed", "tcp-fin", "tcp-fin"], VerdictStatus.Failed, Malformed),
        new("msn-and-reads.pcapng",
            "Send MSNs 1, 2, 4, 4 (a skipped and a repeated MSN); an RDMA Read Response nobody asked for, and one to the wrong sink STag",
            ["ddp-msn-gap", "ddp-msn-gap", "rdmap-read-response-unmatched", "rdmap-read-response-unmatched", "tcp-fin", "tcp-fin"], VerdictStatus.Failed, MsnAndReads),
        new("midstream.pcapng",
            "Two connections captured after their handshakes, starting inside an FPDU: flow 0 with CRCs (framing recovered from a verifying CRC), flow 1 without (from a chain of four FPDUs)",
            ["mpa-midstream", "mpa-midstream", "tcp-fin", "tcp-fin", "mpa-midstream", "mpa-midstream", "tcp-fin", "tcp-fin"], VerdictStatus.Ok, MidStream),
        new("gaps.pcapng",
            "Segments the capture dropped: flow 0 loses one inside a 7000-octet FPDU (its end is known, nothing to resync) and one across FPDU boundaries (resynchronised from the CRC); flow 1 uses markers and resynchronises from a marker",
            ["tcp-gap", "tcp-gap", "mpa-resync", "tcp-fin", "tcp-fin", "mpa-markers-requested", "mpa-markers-requested", "tcp-gap", "mpa-resync", "tcp-fin", "tcp-fin"], VerdictStatus.Warning, Gaps),
        new("fpdu-over-mss.pcapng",
            "Both SYNs announce MSS 1460 but the sender builds 4006-octet FPDUs (MULPDU ignored), so each FPDU spans three segments",
            ["mpa-fpdu-exceeds-mss", "tcp-fin", "tcp-fin"], VerdictStatus.Warning, FpduOverMss),
        new("early-fpdu.pcapng",
            "The initiator sends its first Send in the same segment as its MPA Request, before the Reply",
            ["mpa-early-fpdu", "tcp-fin", "tcp-fin"], VerdictStatus.Failed, EarlyFpdu),
        new("invalid-start-frames.pcapng",
            "Flow 0: a Request with Rev 3. Flow 1: both ends send an MPA Request (active/active). Flow 2: S=1 at Rev 2 with PD_Length 2, rejected as siw does",
            ["mpa-invalid-start-frame", "tcp-rst-mid-stream", "mpa-invalid-start-frame", "tcp-rst-mid-stream", "mpa-invalid-start-frame", "mpa-reply-rejected", "tcp-fin", "tcp-fin"], VerdictStatus.Failed, InvalidStartFrames),
        new("tcp-failures.pcapng",
            "No iWARP gets going: flow 0's SYN (sent three times) is never answered (a filtering firewall); flow 1's SYN is answered by a reset (nothing listens)",
            ["tcp-syn-rst", "tcp-syn-unanswered"], VerdictStatus.Failed, TcpFailures),
        new("truncated.pcapng",
            "An RDMA Write whose last segment is cut short by the end of the file (a capture copied while being written); the FPDU it ends is counted as cut by a gap",
            ["capture-truncated-packet", "capture-snaplen"], VerdictStatus.Warning, Truncated, CutOctets: 700),
        new("not-iwarp.pcapng",
            "A plain TCP request/response (HTTP): no MPA, nothing to report",
            ["tcp-fin", "tcp-fin"], VerdictStatus.NotIwarp, NotIwarp),
    ];

    /// <summary>Writes every sample into <paramref name="directory"/>.</summary>
    public static void WriteAll(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var sample in All)
        {
            sample.Write(Path.Combine(directory, sample.FileName));
        }
    }

    private static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        for (var i = 0; i < b.Length; i++)
        {
            b[i] = (byte)(i * 31 + seed);
        }
        return b;
    }

    private static MpaStartFrame Request(bool crc, int rev = 2, MpaV2Block? block = null, byte[]? pd = null, bool markers = false) =>
        rev >= 2
            ? MpaStartFrame.Request(crc, block ?? V2, pd ?? [], markers) with { Rev = (byte)rev }
            : MpaStartFrame.Request(crc, null, pd ?? [], markers) with { Rev = (byte)rev };

    private static MpaStartFrame Reply(bool crc, int rev = 2, MpaV2Block? block = null, byte[]? pd = null, bool markers = false, bool reject = false) =>
        rev >= 2
            ? MpaStartFrame.Reply(crc, block ?? V2, pd ?? [], reject, markers) with { Rev = (byte)rev }
            : MpaStartFrame.Reply(crc, null, pd ?? [], reject, markers) with { Rev = (byte)rev };

    private static void AllOpcodes(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Connect(Request(true, block: new MpaV2Block(16, 16, peerToPeer: true, writeRtr: true, readRtr: true), pd: Rfc8797),
            Reply(true, block: new MpaV2Block(16, 16, peerToPeer: true, writeRtr: true)));
        var c = f.Client;
        var s = f.Server;
        c.Write(1, 0, []);
        f.Flush(SynthSide.Client);
        c.Send("hello"u8);
        f.Flush(SynthSide.Client);
        s.Send("world"u8);
        f.Flush(SynthSide.Server);
        c.Send(Bytes(100, 1), RdmapOpcode.SendWithSolicitedEvent);
        f.Flush(SynthSide.Client);
        c.Send(Bytes(64, 2), RdmapOpcode.SendWithInvalidate, invalidateSTag: 0x0000_1234);
        f.Flush(SynthSide.Client);
        c.Send(Bytes(64, 3), RdmapOpcode.SendWithSolicitedEventAndInvalidate, invalidateSTag: 0x0000_5678);
        f.Flush(SynthSide.Client);
        c.Write(0x0001_0203, 0x7F00_0000_1000, Bytes(3000, 4));
        f.Flush(SynthSide.Client);
        c.ReadRequest(new ReadRequestHeader(0x0000_0100, 0x7000, 2000, 0x0000_0200, 0x9000));
        f.Flush(SynthSide.Client);
        s.ReadResponse(0x0000_0100, 0x7000, Bytes(2000, 5));
        f.Flush(SynthSide.Server);
        c.Immediate(0x0102_0304_0506_0708);
        f.Flush(SynthSide.Client);
        c.Immediate(0x1112_1314_1516_1718, solicitedEvent: true);
        f.Flush(SynthSide.Client);
        c.AtomicRequest(AtomicRequest.FetchAdd(1, 0x0000_0300, 0x8000, 5));
        f.Flush(SynthSide.Client);
        s.AtomicResponse(new AtomicResponse(1, 41));
        f.Flush(SynthSide.Server);
        c.AtomicRequest(AtomicRequest.CmpSwap(2, 0x0000_0300, 0x8008, 7, ulong.MaxValue, 41, ulong.MaxValue));
        f.Flush(SynthSide.Client);
        s.AtomicResponse(new AtomicResponse(2, 41));
        f.Flush(SynthSide.Server);
        s.Send(Bytes(40, 6), RdmapOpcode.SendWithSolicitedEvent);
        f.Flush(SynthSide.Server);
        f.Close();
    }

    private static void ManyPerSegment(SampleBuilder b)
    {
        var f = b.Flow(SmbDirect);
        f.Connect(Request(true, rev: 1), Reply(true, rev: 1));
        for (var i = 0; i < 200; i++)
        {
            f.Client.Send(Bytes(32 + i % 65, i));
            f.Server.Send(Bytes(20 + i % 41, i + 7));
        }
        f.FlushPacked(SynthSide.Client);
        f.Tcp.Ack(SynthSide.Server);
        f.FlushPacked(SynthSide.Server);
        f.Tcp.Ack(SynthSide.Client);
        f.Close();
    }

    private static void SplitFpdus(SampleBuilder b)
    {
        var f = b.Flow(Iser);
        f.Connect(Request(false, rev: 1), Reply(false, rev: 1));
        for (var i = 0; i < 3; i++)
        {
            f.Client.Write(0x0000_0A00 + (uint)i, 0x1_0000UL * (ulong)i, Bytes(8000, i));
            f.Client.Send(Bytes(200 + i, i));
        }
        f.FlushCut(SynthSide.Client, 1000, 1, 777, 1460, 3, 512);
        f.Server.Send(Bytes(3000, 9));
        f.FlushCut(SynthSide.Server, 1, 1, 5, 1460);
        f.Close();
    }

    private static void Markers(SampleBuilder b)
    {
        var f = b.Flow(NvmeRdma);
        f.Connect(Request(true, rev: 1, markers: true), Reply(true, rev: 1, markers: true));
        for (var i = 0; i < 30; i++)
        {
            f.Client.Send(Bytes(10 + i * 47 % 1300, i));
        }
        f.Client.Write(0x0000_4444, 0x2000, Bytes(5000, 1));
        f.FlushPacked(SynthSide.Client);
        for (var i = 0; i < 12; i++)
        {
            f.Server.Send(Bytes(500 + i, i));
        }
        f.FlushPacked(SynthSide.Server);
        f.Close();
    }

    private static void CrcError(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Connect(Request(true), Reply(true));
        f.Client.Send(Bytes(100, 1));
        f.Client.Send(Bytes(200, 2));
        f.Flush(SynthSide.Client);
        var ddp = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, f.Client.NextMsn(0));
        f.Client.SetNextMsn(0, f.Client.NextMsn(0) + 1);
        f.Client.Fpdu(ddp, RdmapHeader.None, Bytes(300, 3), corruptCrc: true);
        f.Flush(SynthSide.Client);
        f.Server.Terminate(new TerminateHeader(TerminateErrors.MpaCrcError));
        f.Flush(SynthSide.Server);
        f.Tcp.Rst(SynthSide.Server);
    }

    private static void CrcUnnegotiated(SampleBuilder b)
    {
        var f = b.Flow(SmbDirect);
        f.Connect(Request(false, rev: 1), Reply(false, rev: 1));
        f.Client.Crc = f.Server.Crc = true;
        for (var i = 0; i < 5; i++)
        {
            f.Client.Send(Bytes(64 + i, i));
            f.Flush(SynthSide.Client);
            f.Server.Send(Bytes(32 + i, i));
            f.Flush(SynthSide.Server);
        }
        f.Close();
    }

    private static void Reject(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Tcp.Handshake();
        f.Client.StartFrame(Request(true, block: new MpaV2Block(8, 8), pd: Rfc8797));
        f.Flush(SynthSide.Client);
        f.Server.StartFrame(Reply(true, block: new MpaV2Block(8, 8), pd: "rdmadiag: no NFS/RDMA export here"u8.ToArray(), reject: true));
        f.Flush(SynthSide.Server);
        f.Tcp.Fin(SynthSide.Server);
        f.Tcp.Fin(SynthSide.Client);
        f.Tcp.Ack(SynthSide.Server);
    }

    private static void RequestNoReply(SampleBuilder b)
    {
        var f = b.Flow(Iser);
        f.Tcp.Handshake();
        f.Client.StartFrame(Request(false, pd: Rfc8797));
        f.Flush(SynthSide.Client);
        f.Tcp.Ack(SynthSide.Server);
        f.Tcp.Wait(TimeSpan.FromSeconds(10));
        f.Tcp.Rst(SynthSide.Client);
    }

    private static void V2Negotiation(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Connect(Request(true, rev: 2, block: new MpaV2Block(8, 8)), Reply(true, rev: 1));
        f.Client.Send(Bytes(100, 1));
        f.Flush(SynthSide.Client);
        f.Server.Send(Bytes(100, 2));
        f.Flush(SynthSide.Server);
        f.Close();
        b.Next();

        var g = b.Flow(NfsRdma);
        g.Connect(Request(true, block: new MpaV2Block(4, 16, peerToPeer: true, readRtr: true)),
            Reply(true, block: new MpaV2Block(8, 8, peerToPeer: true, writeRtr: true)));
        g.Client.Terminate(new TerminateHeader(TerminateErrors.MpaNoMatchingRtr));
        g.Flush(SynthSide.Client);
        g.Close();
    }

    /// <summary>A connection whose client sends what <paramref name="offend"/> writes; the server answers with the Terminate it returns, then a reset.</summary>
    private static void Terminated(SampleBuilder b, Func<MpaStreamWriter, TerminateHeader> offend)
    {
        var f = b.Flow(SmbDirect);
        f.Connect(Request(true), Reply(true));
        var terminate = offend(f.Client);
        f.Flush(SynthSide.Client);
        f.Server.Terminate(terminate);
        f.Flush(SynthSide.Server);
        f.Tcp.Rst(SynthSide.Server);
        b.Next();
    }

    private static void Terminates(SampleBuilder b)
    {
        // Send with Invalidate of an STag that cannot be invalidated; siw-style copy: M, D, R, untagged header, no RDMA header.
        Terminated(b, c =>
        {
            var msn = c.NextMsn(0);
            c.Send(Bytes(80, 1), RdmapOpcode.SendWithInvalidate, invalidateSTag: 0x0000_0077);
            var copy = DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.SendWithInvalidate), 0, msn, 0, rsvdUlp: 0x77);
            return new TerminateHeader(TerminateErrors.RdmapProtectionCannotInvalidate, 80, copy) with { RdmaHeaderIncluded = true };
        });
        // A Read Request with an unknown source STag: D with the untagged header and R with the Read Request copy.
        Terminated(b, c =>
        {
            var read = new ReadRequestHeader(0x0000_0500, 0x4000, 4096, 0x0BAD_0001, 0x10000);
            var msn = c.NextMsn(1);
            c.ReadRequest(read);
            return new TerminateHeader(TerminateErrors.RdmapInvalidSTag, 0, DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.RdmaReadRequest), 1, msn), read);
        });
        // Immediate Data to a peer without RFC 7306 (what Linux siw answers: unexpected opcode).
        Terminated(b, c =>
        {
            var msn = c.NextMsn(0);
            c.Immediate(0xCAFE);
            return new TerminateHeader(TerminateErrors.RdmapUnexpectedOpcode, 0, DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.ImmediateData), 0, msn));
        });
        // An RDMA Write with RDMAP version 0: remote operation error with a tagged (14-octet) copy.
        Terminated(b, c =>
        {
            var write = DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite, version: 0), 0x0000_0600, 0x100);
            var ulpdu = new byte[DdpHeader.TaggedLength + 32];
            write.Write(ulpdu);
            c.FpduFromUlpdu(ulpdu);
            return new TerminateHeader(TerminateErrors.RdmapInvalidVersion, 32, write);
        });
        // A Send when no receive is posted.
        Terminated(b, c =>
        {
            var msn = c.NextMsn(0);
            c.Send(Bytes(1024, 4));
            return new TerminateHeader(TerminateErrors.DdpUntaggedNoBuffer, 1024, DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, msn));
        });
        // An RDMA Write to an STag the responder does not know.
        Terminated(b, c =>
        {
            c.Write(0x0DEA_D000, 0, Bytes(512, 5));
            return new TerminateHeader(TerminateErrors.DdpTaggedInvalidSTag, 512, DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), 0x0DEA_D000, 0));
        });
        // A corrupted FPDU answered the way Chelsio cxgb4 reports MPA errors: layer 2, error type 3.
        Terminated(b, c =>
        {
            c.Fpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, c.NextMsn(0)), RdmapHeader.None, Bytes(64, 6), corruptCrc: true);
            return new TerminateHeader(layer: 2, etype: TerminateErrors.Cxgb4MpaEType, errorCode: 0x02);
        });
    }

    private static void Malformed(SampleBuilder b)
    {
        var f = b.Flow(Iser);
        f.Connect(Request(true), Reply(true));
        var c = f.Client;
        var send = new byte[DdpHeader.UntaggedLength + 16];
        DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, 1, dv: 2).Write(send);
        c.FpduFromUlpdu(send);
        var unassigned = new byte[DdpHeader.UntaggedLength + 8];
        DdpHeader.CreateUntagged(RdmapControl.Encode((RdmapOpcode)0xC), 0, 2).Write(unassigned);
        c.FpduFromUlpdu(unassigned);
        var shortRead = new byte[DdpHeader.UntaggedLength + 24];
        DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.RdmaReadRequest), 1, 1).Write(shortRead);
        c.FpduFromUlpdu(shortRead);
        var wrongQueue = new byte[DdpHeader.UntaggedLength + 8];
        DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 1, 2).Write(wrongQueue);
        c.FpduFromUlpdu(wrongQueue);
        c.SetNextMsn(0, 2);
        c.Send(Bytes(30, 1));
        f.FlushPacked(SynthSide.Client);
        f.Close();
    }

    private static void MsnAndReads(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Connect(Request(true), Reply(true));
        var c = f.Client;
        var s = f.Server;
        c.Send(Bytes(50, 1));
        c.Send(Bytes(50, 2));
        c.SetNextMsn(0, 4);
        c.Send(Bytes(50, 3));
        c.SetNextMsn(0, 4);
        c.Send(Bytes(50, 4));
        f.FlushPacked(SynthSide.Client);
        s.ReadResponse(0x0000_0900, 0, Bytes(256, 5));
        f.Flush(SynthSide.Server);
        c.ReadRequest(new ReadRequestHeader(0x0000_0010, 0x1000, 128, 0x0000_0020, 0x2000));
        f.Flush(SynthSide.Client);
        s.ReadResponse(0x0000_0011, 0x1000, Bytes(128, 6));
        f.Flush(SynthSide.Server);
        f.Close();
    }

    private static void MidStream(SampleBuilder b)
    {
        foreach (var crc in (ReadOnlySpan<bool>)[true, false])
        {
            var f = b.Flow(SmbDirect);
            f.Negotiated(Request(crc), Reply(crc));
            for (var i = 0; i < 12; i++)
            {
                f.Client.Send(Bytes(100 + i * 13, i));
                f.Client.Write(0x0000_0700, (ulong)i * 4096, Bytes(700 + i, i));
                f.Server.Send(Bytes(60 + i, i));
            }
            // The capture begins 37 octets into the client's stream and 10 into the server's: no SYN, no MPA, mid-FPDU.
            SendFrom(f, SynthSide.Client, 37);
            SendFrom(f, SynthSide.Server, 10);
            f.Close();
            b.Next();
        }
    }

    private static void SendFrom(SynthFlow f, SynthSide side, int skip)
    {
        var w = f.Side(side);
        f.Tcp.Lose(side, skip);
        f.Tcp.Send(side, w.Pending[skip..], 1460);
        w.Clear();
    }

    private static void Gaps(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Connect(Request(true), Reply(true), mss: 9000);
        f.Client.Mulpdu = 7000;
        f.Client.Write(0x0000_0800, 0, Bytes(6900, 1));
        var fpdu = f.Client.Pending.ToArray();
        f.Client.Clear();
        f.Tcp.Send(SynthSide.Client, fpdu.AsSpan(0, 1460), 1460);
        f.Tcp.Lose(SynthSide.Client, 1460);
        f.Tcp.Send(SynthSide.Client, fpdu.AsSpan(2920), 1460);
        f.Tcp.Ack(SynthSide.Server);
        for (var i = 0; i < 40; i++)
        {
            f.Client.Send(Bytes(150 + i, i));
        }
        var sends = f.Client.Pending.ToArray();
        f.Client.Clear();
        f.Tcp.Send(SynthSide.Client, sends.AsSpan(0, 1000), 1000);
        f.Tcp.Lose(SynthSide.Client, 1000);
        f.Tcp.Send(SynthSide.Client, sends.AsSpan(2000), 1000);
        f.Tcp.Ack(SynthSide.Server);
        f.Close();
        b.Next();

        var g = b.Flow(NfsRdma);
        g.Connect(Request(true, rev: 1, markers: true), Reply(true, rev: 1, markers: true));
        for (var i = 0; i < 40; i++)
        {
            g.Client.Send(Bytes(300 + i * 7, i));
        }
        var marked = g.Client.Pending.ToArray();
        g.Client.Clear();
        g.Tcp.Send(SynthSide.Client, marked.AsSpan(0, 2000), 1000);
        g.Tcp.Lose(SynthSide.Client, 1300);
        g.Tcp.Send(SynthSide.Client, marked.AsSpan(3300), 1000);
        g.Tcp.Ack(SynthSide.Server);
        g.Close();
    }

    private static void FpduOverMss(SampleBuilder b)
    {
        var f = b.Flow(SmbDirect);
        f.Connect(Request(true), Reply(true));
        f.Client.Mulpdu = 4000;
        f.Client.Write(0x0000_0A0A, 0, Bytes(12000, 1));
        f.Flush(SynthSide.Client);
        f.Close();
    }

    private static void EarlyFpdu(SampleBuilder b)
    {
        var f = b.Flow(Iser);
        var request = Request(true);
        var reply = Reply(true);
        f.Tcp.Handshake();
        f.Client.StartFrame(request);
        f.Negotiated(request, reply);
        f.Client.Send("too early"u8);
        f.Flush(SynthSide.Client);
        f.Server.StartFrame(reply);
        f.Flush(SynthSide.Server);
        f.Close();
    }

    private static void InvalidStartFrames(SampleBuilder b)
    {
        var f = b.Flow(SmbDirect);
        f.Tcp.Handshake();
        f.Client.StartFrame(Request(true) with { Rev = 3 });
        f.Flush(SynthSide.Client);
        f.Tcp.Rst(SynthSide.Server);
        b.Next();

        f = b.Flow(SmbDirect);
        f.Tcp.Handshake();
        f.Client.StartFrame(Request(true));
        f.Flush(SynthSide.Client);
        f.Server.StartFrame(Request(true));
        f.Flush(SynthSide.Server);
        f.Tcp.Rst(SynthSide.Client);
        b.Next();

        f = b.Flow(SmbDirect);
        f.Tcp.Handshake();
        f.Client.StartFrame(new MpaStartFrame { Enhanced = true, Rev = 2, CrcPreferred = true, PrivateData = new byte[] { 0x80, 0x10 } });
        f.Flush(SynthSide.Client);
        f.Server.StartFrame(MpaStartFrame.Reply(true, null, ReadOnlyMemory<byte>.Empty, rejected: true) with { Rev = 2 });
        f.Flush(SynthSide.Server);
        f.Close();
    }

    private static void TcpFailures(SampleBuilder b)
    {
        var f = b.Flow(NfsRdma);
        f.Tcp.Syn(SynthSide.Client);
        f.Tcp.Wait(TimeSpan.FromSeconds(1));
        f.Tcp.Syn(SynthSide.Client);
        f.Tcp.Wait(TimeSpan.FromSeconds(2));
        f.Tcp.Syn(SynthSide.Client);
        f.Tcp.Wait(TimeSpan.FromSeconds(1));
        b.Next();

        var g = b.Flow(SmbDirect);
        g.Tcp.Syn(SynthSide.Client);
        g.Tcp.Rst(SynthSide.Server);
    }

    private static void Truncated(SampleBuilder b)
    {
        var f = b.Flow(Iser);
        f.Connect(Request(true), Reply(true));
        f.Client.Write(0x0000_0C00, 0, Bytes(4000, 1));
        f.Flush(SynthSide.Client);
    }

    private static void NotIwarp(SampleBuilder b)
    {
        var f = b.Flow(80);
        f.Tcp.Handshake();
        f.Client.Raw("GET / HTTP/1.1\r\nHost: example\r\n\r\n"u8);
        f.Flush(SynthSide.Client);
        f.Server.Raw("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"u8);
        f.Flush(SynthSide.Server);
        f.Close();
    }
}
