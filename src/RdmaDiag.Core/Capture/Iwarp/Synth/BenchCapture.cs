using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp.Synth;

/// <summary>What <see cref="BenchCapture.Write"/> produced.</summary>
public sealed record BenchCaptureInfo(string Path, long Packets, long Fpdus, long Octets);

/// <summary>
/// Writes a large capture for the decode benchmark: four iWARP connections (MPA v2, CRC on) interleaved, each
/// sending segments of 16 small Sends (64-octet payloads, 88-octet FPDUs) and, every 16th segment, one full-size
/// RDMA Write FPDU, with an ACK from the peer every 4 segments. Streaming: memory does not grow with the size.
/// </summary>
public static class BenchCapture
{
    private const int Flows = 4;
    private const int SendsPerSegment = 16;
    private const int SegmentsPerAck = 4;

    /// <summary>
    /// Writes at least <paramref name="fpdus"/> FPDUs to <paramref name="path"/>; one segment in
    /// <paramref name="segmentsPerWrite"/> carries a full-size RDMA Write FPDU, the others 16 Sends.
    /// </summary>
    public static BenchCaptureInfo Write(string path, long fpdus, int segmentsPerWrite = 16)
    {
        using var writer = PcapNgWriter.Create(path, $"RdmaDiag decode benchmark: {fpdus} FPDUs");
        var builder = new SampleBuilder(writer);
        var flows = new SynthFlow[Flows];
        var crc = MpaStartFrame.Request(true, new MpaV2Block(16, 16), ReadOnlyMemory<byte>.Empty);
        var reply = MpaStartFrame.Reply(true, new MpaV2Block(16, 16), ReadOnlyMemory<byte>.Empty);
        for (var i = 0; i < Flows; i++)
        {
            flows[i] = builder.Flow((ushort)(19870 + i));
            flows[i].Tcp.StepNanos = 1_000;
            flows[i].Connect(crc, reply);
        }
        var payload = new byte[64];
        var write = new byte[flows[0].Client.Mulpdu - Wire.Ddp.DdpHeader.TaggedLength];
        for (var i = 0; i < write.Length; i++)
        {
            write[i] = (byte)i;
        }
        long written = 0;
        long segments = 0;
        var clock = flows.Max(f => f.Tcp.ClockNanos);
        while (written < fpdus)
        {
            var flow = flows[segments % Flows];
            var round = segments / Flows;
            flow.Tcp.ClockNanos = clock;
            if (round % segmentsPerWrite == segmentsPerWrite - 1)
            {
                written += flow.Client.Write(0x0000_1000, (ulong)segments * (ulong)write.Length, write);
            }
            else
            {
                for (var s = 0; s < SendsPerSegment; s++)
                {
                    payload[0] = (byte)s;
                    flow.Client.Send(payload, RdmapOpcode.Send);
                }
                written += SendsPerSegment;
            }
            flow.FlushPacked(SynthSide.Client);
            if (round % SegmentsPerAck == SegmentsPerAck - 1)
            {
                flow.Tcp.Ack(SynthSide.Server);
            }
            clock = flow.Tcp.ClockNanos;
            segments++;
        }
        foreach (var flow in flows)
        {
            flow.Close();
        }
        var packets = writer.PacketsWritten;
        writer.Commit();
        return new BenchCaptureInfo(path, packets, written, new FileInfo(path).Length);
    }
}
