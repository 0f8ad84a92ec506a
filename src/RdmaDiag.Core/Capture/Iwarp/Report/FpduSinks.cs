using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp.Report;

/// <summary>Writes FPDUs (of one flow, or all) as a JSON array to a stream, one object per FPDU (<see cref="FpduFields"/>).</summary>
public sealed class FpduJsonSink : IFpduSink, IDisposable
{
    private readonly Utf8JsonWriter _writer;
    private readonly int? _flow;

    public FpduJsonSink(Stream stream, int? flow = null)
    {
        _flow = flow;
        _writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        _writer.WriteStartArray();
    }

    public long Count { get; private set; }

    public void OnFpdu(in IwarpFpdu fpdu)
    {
        if (_flow is int only && fpdu.Flow.Id != only)
        {
            return;
        }
        FpduFields.Write(_writer, fpdu);
        Count++;
        if (_writer.BytesPending > 1 << 16)
        {
            _writer.Flush();
        }
    }

    /// <summary>Closes the array and flushes.</summary>
    public void Complete()
    {
        _writer.WriteEndArray();
        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();
}

/// <summary>Writes one line per FPDU (of one flow, or all) to a text writer.</summary>
public sealed class FpduTextSink(TextWriter output, int? flow = null) : IFpduSink
{
    private readonly StringBuilder _line = new(256);

    public long Count { get; private set; }

    public void OnFpdu(in IwarpFpdu f)
    {
        if (flow is int only && f.Flow.Id != only)
        {
            return;
        }
        Count++;
        var s = _line.Clear();
        s.Append("frame ").Append(f.Frame.ToString().PadLeft(6)).Append("  flow ").Append(f.Flow.Id).Append(' ')
         .Append(f.Direction == FlowDirection.ClientToServer ? "c→s" : "s→c").Append("  ULPDU ").Append(f.UlpduLength.ToString().PadLeft(5))
         .Append(f.Crc switch { CrcStatus.Good => "  CRC ok ", CrcStatus.Bad => "  CRC BAD", _ => "         " }).Append("  ");
        if (!f.HasDdp)
        {
            s.Append("(no DDP header)");
        }
        else
        {
            var ddp = f.Ddp;
            s.Append(RdmapOpcodes.GetSpecName(f.Opcode)).Append(ddp.Last ? " L" : "");
            if (ddp.Tagged)
            {
                s.Append($"  STag 0x{ddp.STag:X8} TO 0x{ddp.TaggedOffset:X}");
            }
            else
            {
                s.Append($"  QN {ddp.QueueNumber} MSN {ddp.MessageSequenceNumber} MO {ddp.MessageOffset}");
                if (RdmapOpcodes.CarriesInvalidateSTag(f.Opcode))
                {
                    s.Append($" invalidate 0x{ddp.InvalidateSTag:X8}");
                }
            }
            if (ddp.Dv != 1 || f.Control.Version != 1)
            {
                s.Append($"  DV {ddp.Dv} RV {f.Control.Version}");
            }
            var h = f.Header;
            switch (h.Kind)
            {
                case RdmapHeaderKind.ReadRequest:
                    var rr = h.ReadRequest;
                    s.Append($"  sink 0x{rr.SinkSTag:X8}/0x{rr.SinkTO:X} size {rr.ReadSize} source 0x{rr.SourceSTag:X8}/0x{rr.SourceTO:X}");
                    break;
                case RdmapHeaderKind.Terminate:
                    var t = h.Terminate;
                    s.Append($"  {t.LayerValue}/{t.EType}/0x{t.ErrorCode:X2} {t.Error.Name}");
                    if (t.CopiedDdpHeader is { } copy)
                    {
                        s.Append($" [{copy}]");
                    }
                    break;
                case RdmapHeaderKind.ImmediateData:
                    s.Append($"  data 0x{h.ImmediateData.Value:X16}");
                    break;
                case RdmapHeaderKind.AtomicRequest:
                    var a = h.AtomicRequest;
                    s.Append($"  {a.Opcode} id {a.RequestId} 0x{a.RemoteSTag:X8}/0x{a.RemoteTO:X}");
                    break;
                case RdmapHeaderKind.AtomicResponse:
                    var r = h.AtomicResponse;
                    s.Append($"  id {r.OriginalRequestId} value 0x{r.OriginalRemoteDataValue:X}");
                    break;
            }
            if (f.PayloadLength > 0)
            {
                s.Append("  payload ").Append(f.PayloadLength);
            }
        }
        if (!f.Error.IsNone)
        {
            s.Append("  !! ").Append(f.Error.Message);
        }
        output.WriteLine(s);
    }
}
