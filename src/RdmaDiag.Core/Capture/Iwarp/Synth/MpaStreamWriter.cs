using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp.Synth;

/// <summary>
/// Builds what one MPA endpoint sends on its TCP stream, with the wire codecs: the start frame, then FPDUs
/// (CRC or zero, markers when the peer asked for them), with one MSN counter per untagged queue. Octets
/// accumulate in <see cref="Pending"/> until <see cref="Clear"/>, so a caller decides how they are cut into
/// TCP segments (one FPDU per segment, many per segment, FPDUs split across segments).
/// </summary>
public sealed class MpaStreamWriter
{
    private readonly byte[] _fpdu = new byte[Wire.Mpa.Fpdu.MaxLength];
    private readonly byte[] _marked = new byte[Wire.Mpa.Fpdu.MaxLength + 4 * (Wire.Mpa.Fpdu.MaxLength / (MpaMarkers.Interval - MpaMarkers.Length) + 2)];
    private readonly uint[] _msn = [1, 1, 1, 1];
    private readonly List<int> _ends = [];
    private byte[] _buffer = new byte[64 * 1024];
    private int _length;
    private MarkerInserter _markers;

    /// <summary>Generate CRCs (else the CRC field is zero).</summary>
    public bool Crc { get; set; } = true;

    /// <summary>Insert markers (the peer's start frame had M=1); set before the first FPDU.</summary>
    public bool Markers { get; set; }

    /// <summary>Largest ULPDU per FPDU when a message is segmented.</summary>
    public int Mulpdu { get; set; } = Wire.Mpa.Mulpdu.FromEmss(1460, markers: false);

    /// <summary>Octets written and not yet cleared.</summary>
    public ReadOnlySpan<byte> Pending => _buffer.AsSpan(0, _length);

    /// <summary>Octets of full operation written so far (markers included), from SeqStart.</summary>
    public long FullOperationOctets { get; private set; }

    /// <summary>Where each start frame or FPDU in <see cref="Pending"/> ends, in order.</summary>
    public IReadOnlyList<int> FrameEnds => _ends;

    public void Clear()
    {
        _length = 0;
        _ends.Clear();
    }

    /// <summary>The MSN the next message on queue <paramref name="qn"/> gets.</summary>
    public uint NextMsn(int qn) => _msn[qn];

    /// <summary>Sets the MSN the next message on queue <paramref name="qn"/> gets (to make MSN gaps on purpose).</summary>
    public void SetNextMsn(int qn, uint msn) => _msn[qn] = msn;

    /// <summary>Appends an MPA Request or Reply; the next octet is the first of full operation.</summary>
    public void StartFrame(in MpaStartFrame frame)
    {
        var n = frame.EncodedLength;
        frame.Write(Reserve(n));
        _length += n;
        _ends.Add(_length);
    }

    /// <summary>Appends raw octets (a corrupted frame, garbage, a frame from another protocol).</summary>
    public void Raw(ReadOnlySpan<byte> octets)
    {
        octets.CopyTo(Reserve(octets.Length));
        _length += octets.Length;
        _ends.Add(_length);
    }

    /// <summary>
    /// Appends one FPDU carrying this DDP segment. With <paramref name="corruptCrc"/>, the CRC field is
    /// written wrong (its first octet inverted). Returns the octets appended (markers included).
    /// </summary>
    public int Fpdu(in DdpHeader ddp, in RdmapHeader header, ReadOnlySpan<byte> payload, bool corruptCrc = false)
    {
        var length = RdmapCodec.WriteFpdu(_fpdu, ddp, header, payload, Crc);
        return Append(_fpdu.AsSpan(0, length), corruptCrc);
    }

    /// <summary>Appends an FPDU around a ULPDU given as raw octets (to make malformed DDP segments).</summary>
    public int FpduFromUlpdu(ReadOnlySpan<byte> ulpdu, bool corruptCrc = false)
    {
        var length = Wire.Mpa.Fpdu.Write(_fpdu, ulpdu, Crc);
        return Append(_fpdu.AsSpan(0, length), corruptCrc);
    }

    /// <summary>A Send-family message on QN 0, segmented at <see cref="Mulpdu"/>; returns the FPDU count.</summary>
    public int Send(ReadOnlySpan<byte> message, RdmapOpcode opcode = RdmapOpcode.Send, uint invalidateSTag = 0)
    {
        var first = DdpHeader.CreateUntagged(RdmapControl.Encode(opcode), 0, _msn[0]++, 0, rsvdUlp: invalidateSTag);
        return Segmented(first, message);
    }

    /// <summary>An RDMA Write to <paramref name="stag"/> at <paramref name="to"/>, segmented; returns the FPDU count.</summary>
    public int Write(uint stag, ulong to, ReadOnlySpan<byte> message) =>
        Segmented(DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), stag, to), message);

    /// <summary>An RDMA Read Response into the requester's sink buffer, segmented; returns the FPDU count.</summary>
    public int ReadResponse(uint sinkSTag, ulong sinkTo, ReadOnlySpan<byte> message) =>
        Segmented(DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaReadResponse), sinkSTag, sinkTo), message);

    /// <summary>An RDMA Read Request on QN 1.</summary>
    public void ReadRequest(ReadRequestHeader request) =>
        Fpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.RdmaReadRequest), 1, _msn[1]++), request, []);

    /// <summary>A Terminate on QN 2.</summary>
    public void Terminate(TerminateHeader terminate) =>
        Fpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Terminate), 2, _msn[2]++), terminate, []);

    /// <summary>Immediate Data (RFC 7306) on QN 0.</summary>
    public void Immediate(ulong value, bool solicitedEvent = false) =>
        Fpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(solicitedEvent ? RdmapOpcode.ImmediateDataWithSolicitedEvent : RdmapOpcode.ImmediateData), 0, _msn[0]++),
            new ImmediateData(value), []);

    /// <summary>An Atomic Request (RFC 7306) on QN 1.</summary>
    public void AtomicRequest(AtomicRequest request) =>
        Fpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.AtomicRequest), 1, _msn[1]++), request, []);

    /// <summary>An Atomic Response (RFC 7306) on QN 3.</summary>
    public void AtomicResponse(AtomicResponse response) =>
        Fpdu(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.AtomicResponse), 3, _msn[3]++), response, []);

    private int Segmented(DdpHeader first, ReadOnlySpan<byte> message)
    {
        var count = 0;
        foreach (var segment in new DdpSegmenter(first, message.Length, Mulpdu))
        {
            Fpdu(segment.Header, RdmapHeader.None, message.Slice((int)segment.Offset, segment.Length));
            count++;
        }
        return count;
    }

    private int Append(ReadOnlySpan<byte> fpdu, bool corruptCrc)
    {
        ReadOnlySpan<byte> wire = fpdu;
        if (Markers)
        {
            var n = _markers.Write(fpdu, _marked, Crc);
            wire = _marked.AsSpan(0, n);
        }
        var destination = Reserve(wire.Length);
        wire.CopyTo(destination);
        if (corruptCrc)
        {
            destination[wire.Length - Crc32c.Size] ^= 0xFF;
        }
        _length += wire.Length;
        _ends.Add(_length);
        FullOperationOctets += wire.Length;
        return wire.Length;
    }

    private Span<byte> Reserve(int n)
    {
        if (_length + n > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + n));
        }
        return _buffer.AsSpan(_length, n);
    }
}
