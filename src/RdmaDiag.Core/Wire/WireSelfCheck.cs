using System.Buffers;
using RdmaDiag.Wire.Ddp;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Wire;

/// <summary>The outcome of one known-answer check.</summary>
public sealed record WireCheckResult(string Name, bool Passed, string Detail);

/// <summary>
/// Known-answer checks of the wire codecs against iwarp-wire.md §2.7 and §8 on this machine's CPU and
/// runtime, for <c>rdmadiag selftest</c>.
/// </summary>
public static class WireSelfCheck
{
    public static IReadOnlyList<WireCheckResult> Run()
    {
        var results = new List<WireCheckResult>();
        foreach (var vector in WireVectors.Crc)
        {
            Check(results, $"crc32c {vector.Name}", () =>
            {
                uint crc = Crc32c.Compute(vector.Input);
                return (crc == vector.Crc, $"0x{crc:X8}, expected 0x{vector.Crc:X8}");
            });
        }
        Check(results, "crc32c residue after a correct CRC", () =>
        {
            byte[] message = [.. "123456789"u8, 0, 0, 0, 0];
            Crc32c.WriteWire(message.AsSpan(9), WireVectors.CheckValue);
            uint residue = Crc32c.Update(Crc32c.Seed, message);
            return (residue == WireVectors.Residue, $"0x{residue:X8}, expected 0x{WireVectors.Residue:X8}");
        });
        Check(results, "crc32c fast path equals the naive loop and the tables", () =>
        {
            var data = new byte[100_003];
            new Random(5044).NextBytes(data);
            var mismatches = new List<int>();
            foreach (int length in (int[])[0, 1, 7, 63, 64, 191, 192, 1024, 3071, 3072, 24_575, 24_576, 65_536, 100_000])
            {
                ReadOnlySpan<byte> slice = data.AsSpan(3, length);
                uint naive = Crc32c.UpdateNaive(Crc32c.Seed, slice);
                if (Crc32c.Update(Crc32c.Seed, slice) != naive || Crc32c.UpdateSoftware(Crc32c.Seed, slice) != naive)
                {
                    mismatches.Add(length);
                }
            }
            string path = Crc32c.FastPath;
            return (mismatches.Count == 0, mismatches.Count == 0 ? $"{path}: 14 lengths agree" : $"{path}: lengths {string.Join(", ", mismatches)} disagree");
        });
        Check(results, "MPA v2 Request (section 8) encodes and decodes", () =>
        {
            var frame = MpaStartFrame.Request(true, new MpaV2Block(16, 16, peerToPeer: true, readRtr: true), WireVectors.MpaV2RequestUlpData);
            var buffer = new byte[frame.EncodedLength];
            frame.Write(buffer);
            var status = MpaStartFrame.TryRead(WireVectors.MpaV2Request, MpaLimits.Linux, out var read, out _, out var error);
            bool ok = buffer.AsSpan().SequenceEqual(WireVectors.MpaV2Request) && status == OperationStatus.Done
                && read.V2Block is { PeerToPeer: true, ReadRtr: true, Ird: 16, Ord: 16 } && read.CrcPreferred;
            return (ok, status == OperationStatus.Done ? Convert.ToHexString(buffer) : error.Message);
        });
        foreach (var message in WireVectors.FpduMessages)
        {
            Check(results, $"FPDU {message.Vector.Name}", () =>
            {
                var buffer = new byte[message.Vector.Fpdu.Length];
                RdmapCodec.WriteFpdu(buffer, message.Ddp, message.Header, message.Payload, crcEnabled: true);
                bool encoded = buffer.AsSpan().SequenceEqual(message.Vector.Fpdu);
                var status = Fpdu.TryRead(message.Vector.Fpdu, verifyCrc: true, out var fpdu, out var error);
                if (status == OperationStatus.Done)
                {
                    status = RdmapCodec.TryDecode(fpdu.Ulpdu, out _, out error);
                }
                return (encoded && status == OperationStatus.Done,
                    $"wire CRC {Convert.ToHexString(buffer.AsSpan(buffer.Length - 4))}{(encoded ? "" : " (encoding differs)")}{(error.IsNone ? "" : $"; {error.Message}")}");
            });
        }
        Check(results, "markers RFC 5044 Fig. 5 and Fig. 6 through inserter and remover", CheckMarkerFigures);
        Check(results, "DDP segmentation RFC 5041 examples", () =>
        {
            var untagged = Segments(DdpHeader.CreateUntagged(RdmapControl.Encode(RdmapOpcode.Send), 0, 1));
            var tagged = Segments(DdpHeader.CreateTagged(RdmapControl.Encode(RdmapOpcode.RdmaWrite), 1, 16384));
            bool ok = untagged == "0+1482,1482+566L" && tagged == "16384+1486,17870+562L";
            return (ok, $"untagged {untagged}; tagged {tagged}");
        });
        Check(results, "MULPDU for EMSS 1460/1448 with and without markers", () =>
        {
            int[] got = [Mulpdu.FromEmss(1460, false), Mulpdu.FromEmss(1460, true), Mulpdu.FromEmss(1448, false), Mulpdu.FromEmss(1448, true)];
            return (got.SequenceEqual([1454, 1442, 1442, 1430]), string.Join(", ", got));
        });
        Check(results, "Terminate catalog names every code, reads cxgb4 0x23 as MPA", () =>
        {
            int named = TerminateErrors.All.Count(e => TerminateErrors.Lookup(e.Layer, e.EType, (byte)Math.Max(e.Code, 0)) == e);
            bool cxgb4 = TerminateErrors.Lookup(2, 3, 2) == TerminateErrors.MpaCrcError;
            return (named == TerminateErrors.All.Count && cxgb4, $"{named} of {TerminateErrors.All.Count} codes; 0x23/0x02 -> {TerminateErrors.Lookup(2, 3, 2).Name}");
        });
        return results;
    }

    private static (bool, string) CheckMarkerFigures()
    {
        byte[] fig5Crc = WireVectors.Hex("52239983");
        byte[] fig6Crc = WireVectors.Hex("84925898");
        byte[] fig5 = [.. WireVectors.Rfc5044Figure5, .. fig5Crc];
        byte[] fig6 = [.. WireVectors.Rfc5044Figure6, .. fig6Crc];
        var output = new byte[64];

        var inserter5 = new MarkerInserter(0);
        int written5 = inserter5.Write(WireVectors.Figure5Unmarked.Fpdu, output, crcEnabled: true);
        bool inserted5 = output.AsSpan(0, written5).SequenceEqual(fig5);

        // Fig. 6 without its interior marker (octets 20..23) is the unmarked FPDU.
        byte[] fig6Unmarked = [.. fig6.AsSpan(0, 20), .. fig6.AsSpan(24, 24), 0, 0, 0, 0];
        var inserter6 = new MarkerInserter(WireVectors.Rfc5044Figure6Offset);
        int written6 = inserter6.Write(fig6Unmarked, output, crcEnabled: true);
        bool inserted6 = output.AsSpan(0, written6).SequenceEqual(fig6);

        var fpdu = new byte[Fpdu.MaxLength];
        var remover5 = new MarkerRemover(0);
        var status5 = remover5.TryRead(fig5, fpdu, verifyCrc: true, out _, out _, out var error5);
        var remover6 = new MarkerRemover(WireVectors.Rfc5044Figure6Offset);
        var status6 = remover6.TryRead(fig6, fpdu, verifyCrc: true, out _, out _, out var error6);
        bool ok = inserted5 && inserted6 && status5 == OperationStatus.Done && status6 == OperationStatus.Done;
        return (ok, $"insert Fig. 5 {(inserted5 ? "ok" : "differs")}, Fig. 6 {(inserted6 ? "ok" : "differs")}; remove Fig. 5 {(error5.IsNone ? "ok" : error5.Message)}, Fig. 6 {(error6.IsNone ? "ok" : error6.Message)}");
    }

    private static string Segments(DdpHeader first)
    {
        var parts = new List<string>();
        foreach (var segment in new DdpSegmenter(first, 2048, 1500))
        {
            ulong start = segment.Header.Tagged ? segment.Header.TaggedOffset : segment.Header.MessageOffset;
            parts.Add($"{start}+{segment.Length}{(segment.Header.Last ? "L" : "")}");
        }
        return string.Join(",", parts);
    }

    private static void Check(List<WireCheckResult> results, string name, Func<(bool Passed, string Detail)> check)
    {
        try
        {
            var (passed, detail) = check();
            results.Add(new WireCheckResult(name, passed, detail));
        }
        catch (Exception e)
        {
            // A self-check reports a codec bug as a failed line rather than aborting the remaining checks.
            results.Add(new WireCheckResult(name, false, $"{e.GetType().Name}: {e.Message}"));
        }
    }
}
