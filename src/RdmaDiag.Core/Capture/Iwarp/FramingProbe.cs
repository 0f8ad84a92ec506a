using System.Buffers;
using System.Buffers.Binary;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>What <see cref="FramingProbe.Chain"/> concluded about a candidate FPDU start.</summary>
internal enum ProbeVerdict : byte
{
    /// <summary>Not an FPDU start.</summary>
    Reject,
    /// <summary>Looks right so far; more octets are needed to decide.</summary>
    NeedMore,
    /// <summary>An FPDU chain starts here.</summary>
    Accept,
}

/// <summary>
/// Finds FPDU boundaries in an unmarked byte stream whose framing is unknown (a capture that starts after the
/// handshake, or the octets after a gap). A candidate start is accepted when its FPDU's CRC32c verifies, or
/// when <see cref="ChainLength"/> consecutive FPDUs are each a valid RDMAP message with zero pad octets,
/// reserved bits zero and the queue number its opcode requires. Random octets pass one such test about once
/// in fifty tries, so a chain of four is a false start about once in six million.
/// </summary>
internal static class FramingProbe
{
    public const int ChainLength = 4;

    /// <summary>Smallest ULPDU: a tagged DDP header.</summary>
    public const int MinUlpdu = DdpHeader.TaggedLength;

    /// <summary>
    /// Probes the chain starting at the front of <paramref name="data"/>. <paramref name="atEnd"/>: no more
    /// octets will come, so a chain of at least two whole FPDUs that reaches the end (or a plausible cut FPDU there) is accepted.
    /// <paramref name="crcRequired"/>: CRCs are known to be in use, so every FPDU must verify.
    /// </summary>
    public static ProbeVerdict Chain(ReadOnlySpan<byte> data, bool crcRequired, bool atEnd, out int count, out bool crcVerified)
    {
        count = 0;
        crcVerified = false;
        var pos = 0;
        while (true)
        {
            var rest = data[pos..];
            if (rest.Length < Fpdu.LengthFieldSize)
            {
                return atEnd ? (count >= 2 && rest.IsEmpty ? ProbeVerdict.Accept : ProbeVerdict.Reject) : ProbeVerdict.NeedMore;
            }
            int n = BinaryPrimitives.ReadUInt16BigEndian(rest);
            if (n < MinUlpdu)
            {
                return ProbeVerdict.Reject;
            }
            var total = Fpdu.TotalLength(n);
            if (rest.Length < total)
            {
                // Judge what is there already, so random octets are rejected without waiting for a long "FPDU".
                if (!Plausible(rest[..Math.Min(rest.Length, Fpdu.LengthFieldSize + n)], n, checkPad: false))
                {
                    return ProbeVerdict.Reject;
                }
                return !atEnd ? ProbeVerdict.NeedMore : count >= 2 ? ProbeVerdict.Accept : ProbeVerdict.Reject;
            }
            if (!Plausible(rest[..total], n, checkPad: true))
            {
                return ProbeVerdict.Reject;
            }
            var coverage = Fpdu.CrcCoverage(n);
            if (Crc32c.ReadWire(rest[coverage..]) == Crc32c.Compute(rest[..coverage]))
            {
                count++;
                crcVerified = true;
                return ProbeVerdict.Accept;
            }
            if (crcRequired)
            {
                return ProbeVerdict.Reject;
            }
            count++;
            pos += total;
            if (count >= ChainLength)
            {
                return ProbeVerdict.Accept;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="fpdu"/> (an unmarked FPDU, or the first part of one) with ULPDU_Length
    /// <paramref name="n"/> holds a valid RDMAP message as far as it goes.
    /// </summary>
    public static bool Plausible(ReadOnlySpan<byte> fpdu, int n, bool checkPad)
    {
        var ulpdu = fpdu[Fpdu.LengthFieldSize..];
        if (ulpdu.Length < 2)
        {
            return true;
        }
        byte ddpControl = ulpdu[0];
        byte rdmapControl = ulpdu[1];
        if ((ddpControl & DdpHeader.ReservedMask) != 0 || (rdmapControl & RdmapControl.ReservedMask) != 0)
        {
            return false;
        }
        var ddpHeader = DdpHeader.LengthFor(ddpControl);
        if (n < ddpHeader)
        {
            return false;
        }
        if (ulpdu.Length < n)
        {
            var control = new RdmapControl(rdmapControl);
            return RdmapOpcodes.IsAssigned(control.Opcode) && RdmapOpcodes.IsTagged(control.Opcode) == ((ddpControl & DdpHeader.TaggedFlag) != 0)
                && (ddpControl & DdpHeader.VersionMask) == DdpHeader.CurrentVersion && control.Version == RdmapControl.CurrentVersion;
        }
        if (RdmapCodec.TryDecode(ulpdu[..n], out var segment, out _) != OperationStatus.Done)
        {
            return false;
        }
        if (!segment.Ddp.Tagged && segment.Ddp.QueueNumber != (uint)RdmapOpcodes.QueueNumber(segment.Opcode))
        {
            return false;
        }
        if (checkPad)
        {
            foreach (var b in fpdu.Slice(Fpdu.LengthFieldSize + n, Fpdu.PadLength(n)))
            {
                if (b != 0)
                {
                    return false;
                }
            }
        }
        return true;
    }
}
