using System.Text.Json;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp.Report;

/// <summary>
/// Writes one FPDU as a JSON object whose keys are Wireshark's display-filter field names, present exactly when
/// Wireshark's dissector would show them, so each value can be checked against <c>tshark -T fields -e NAME</c>.
/// Integers are JSON numbers; FT_BYTES fields are lower-case hex strings; flags are booleans. What Wireshark
/// does not decode is under <c>rdmadiag.*</c> keys.
/// </summary>
public static class FpduFields
{
    public static void Write(Utf8JsonWriter w, in IwarpFpdu f)
    {
        w.WriteStartObject();
        w.WriteNumber("frame", f.Frame);
        w.WriteNumber("flow", f.Flow.Id);
        w.WriteNumber("rdmadiag.last_frame", f.LastFrame);
        w.WriteString("rdmadiag.direction", DirectionName(f.Direction));
        w.WriteNumber("rdmadiag.stream_offset", f.StreamOffset);
        w.WriteNumber("iwarp_mpa.ulpdulength", f.UlpduLength);
        if (f.Crc == CrcStatus.NotChecked)
        {
            w.WriteNumber("iwarp_mpa.crc", f.CrcFieldValue);
        }
        else
        {
            w.WriteNumber("iwarp_mpa.crc_check", f.CrcFieldValue);
            w.WriteBoolean("rdmadiag.crc_ok", f.Crc == CrcStatus.Good);
        }
        if (f.HasDdp)
        {
            WriteDdpRdmap(w, f);
        }
        if (!f.Error.IsNone)
        {
            w.WriteString("rdmadiag.error", f.Error.Message);
        }
        w.WriteEndObject();
    }

    public static string DirectionName(FlowDirection d) => d == FlowDirection.ClientToServer ? "client-to-server" : "server-to-client";

    private static void WriteDdpRdmap(Utf8JsonWriter w, in IwarpFpdu f)
    {
        var ddp = f.Ddp;
        w.WriteBoolean("iwarp_ddp.tagged_flag", ddp.Tagged);
        w.WriteBoolean("iwarp_ddp.last_flag", ddp.Last);
        w.WriteNumber("iwarp_ddp.dv", ddp.Dv);
        if (ddp.Tagged)
        {
            w.WriteNumber("iwarp_ddp.stag", ddp.STag);
            w.WriteNumber("iwarp_ddp.tagged_offset", ddp.TaggedOffset);
        }
        else
        {
            w.WriteNumber("iwarp_ddp.qn", ddp.QueueNumber);
            w.WriteNumber("iwarp_ddp.msn", ddp.MessageSequenceNumber);
            w.WriteNumber("iwarp_ddp.mo", ddp.MessageOffset);
        }
        w.WriteNumber("iwarp_rdma.version", f.Control.Version);
        w.WriteNumber("iwarp_rdma.opcode", (int)f.Opcode);
        w.WriteString("rdmadiag.opcode_name", RdmapOpcodes.GetSpecName(f.Opcode));
        if (!ddp.Tagged && RdmapOpcodes.CarriesInvalidateSTag(f.Opcode))
        {
            w.WriteNumber("iwarp_rdma.inval_stag", ddp.InvalidateSTag);
        }
        var header = f.Header;
        switch (header.Kind)
        {
            case RdmapHeaderKind.ReadRequest:
                var rr = header.ReadRequest;
                w.WriteNumber("iwarp_rdma.sinkstag", rr.SinkSTag);
                w.WriteNumber("iwarp_rdma.sinkto", rr.SinkTO);
                w.WriteNumber("iwarp_rdma.rdmardsz", rr.ReadSize);
                w.WriteNumber("iwarp_rdma.srcstag", rr.SourceSTag);
                w.WriteNumber("iwarp_rdma.srcto", rr.SourceTO);
                break;
            case RdmapHeaderKind.Terminate:
                WriteTerminate(w, f);
                break;
            case RdmapHeaderKind.ImmediateData:
                w.WriteString("rdmadiag.immediate_data", header.ImmediateData.Value.ToString("x16"));
                break;
            case RdmapHeaderKind.AtomicRequest:
                var a = header.AtomicRequest;
                w.WriteNumber("iwarp_rdma.atomic.opcode", (int)a.Opcode);
                w.WriteNumber("iwarp_rdma.atomic.request_identifier", a.RequestId);
                w.WriteNumber("iwarp_rdma.atomic.remote_stag", a.RemoteSTag);
                w.WriteNumber("iwarp_rdma.atomic.remote_tagged_offset", a.RemoteTO);
                var swap = a.Opcode == AtomicOpcode.CmpSwap;
                w.WriteNumber(swap ? "iwarp_rdma.atomic.swap_data" : "iwarp_rdma.atomic.add_data", a.AddOrSwapData);
                w.WriteNumber(swap ? "iwarp_rdma.atomic.swap_mask" : "iwarp_rdma.atomic.add_mask", a.AddOrSwapMask);
                w.WriteNumber("iwarp_rdma.atomic.compare_data", a.CompareData);
                w.WriteNumber("iwarp_rdma.atomic.compare_mask", a.CompareMask);
                break;
            case RdmapHeaderKind.AtomicResponse:
                var r = header.AtomicResponse;
                w.WriteNumber("iwarp_rdma.atomic.original_request_identifier", r.OriginalRequestId);
                w.WriteNumber("iwarp_rdma.atomic.original_remote_data_value", r.OriginalRemoteDataValue);
                break;
        }
        w.WriteNumber("rdmadiag.payload_length", f.PayloadLength);
    }

    private static void WriteTerminate(Utf8JsonWriter w, in IwarpFpdu f)
    {
        var t = f.Header.Terminate;
        w.WriteNumber("iwarp_rdma.term_layer", t.LayerValue);
        w.WriteNumber("iwarp_rdma.term_etype", t.EType);
        w.WriteNumber("iwarp_rdma.term_errcode", t.ErrorCode);
        w.WriteBoolean("iwarp_rdma.term_hdrct_m", t.SegmentLengthValid);
        w.WriteBoolean("iwarp_rdma.hdrct_d", t.DdpHeaderIncluded);
        w.WriteBoolean("iwarp_rdma.hdrct_r", t.RdmaHeaderIncluded);
        w.WriteString("rdmadiag.term_error", t.Error.Name);
        if (t.SiwBitfieldLayout)
        {
            // tshark reads this control word in the RFC's order (M=0 D=0, Reserved 0x0300 for siw's M=1 D=1).
            w.WriteBoolean("rdmadiag.term_siw_bitfield_layout", true);
        }
        if (f.TerminateSegmentLengthField >= 0)
        {
            w.WriteNumber("iwarp_rdma.term_ddp_seg_len", f.TerminateSegmentLengthField);
            w.WriteString("iwarp_rdma.term_ddp_h", Convert.ToHexStringLower(f.TerminatedDdpHeader));
        }
        var rdma = f.TerminatedRdmaHeader;
        if (!rdma.IsEmpty)
        {
            w.WriteString("iwarp_rdma.term_rdma_h", Convert.ToHexStringLower(rdma));
        }
    }
}
