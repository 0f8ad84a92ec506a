using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Tests.Wire;

public class FpduTests
{
    public static TheoryData<string> FpduVectorNames => new(WireVectors.Fpdus.Select(v => v.Name));

    private static WireVectors.FpduVector Vector(string name) => WireVectors.Fpdus.Single(v => v.Name == name);

    [Theory]
    [MemberData(nameof(FpduVectorNames))]
    public void Write_DigestUlpdu_ProducesSection8Octets(string name)
    {
        var vector = Vector(name);
        Assert.True(Fpdu.TryReadUlpduLength(vector.BeforeCrc, out int n));
        var buffer = Enumerable.Repeat((byte)0xFF, vector.Fpdu.Length + 8).ToArray();
        int written = Fpdu.Write(buffer, vector.BeforeCrc.AsSpan(2, n), crcEnabled: true);
        Assert.Equal(vector.Fpdu, buffer[..written]);
        Assert.All(buffer[written..], b => Assert.Equal(0xFF, b));
    }

    [Theory]
    [MemberData(nameof(FpduVectorNames))]
    public void TryRead_DigestFpdu_CrcMatches(string name)
    {
        var vector = Vector(name);
        Assert.Equal(OperationStatus.Done, Fpdu.TryRead(vector.Fpdu, verifyCrc: true, out var fpdu, out var error));
        Assert.True(error.IsNone);
        Assert.True(fpdu.CrcMatches);
        Assert.Equal(vector.Fpdu.Length, fpdu.TotalLength);
        Assert.Equal(Crc32c.ReadWire(vector.WireCrc), fpdu.ReceivedCrc);
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(1, 1)]
    [InlineData(2, 0)]
    [InlineData(3, 3)]
    [InlineData(23, 3)]
    [InlineData(14, 0)]
    public void PadLength_UlpduLength_MakesFpduMultipleOf4(int n, int pad)
    {
        Assert.Equal(pad, Fpdu.PadLength(n));
        Assert.Equal(0, Fpdu.TotalLength(n) % 4);
    }

    [Fact]
    public void TryRead_FlippedPayloadBit_InvalidDataWithBothCrcsAndFrameStillDelimited()
    {
        byte[] bytes = [.. WireVectors.SendHello.Fpdu];
        bytes[20] ^= 0x01;
        Assert.Equal(OperationStatus.InvalidData, Fpdu.TryRead(bytes, verifyCrc: true, out var fpdu, out var error));
        Assert.Equal(WireErrorKind.MpaCrcMismatch, error.Kind);
        Assert.Equal(0x0CB190B9, error.Seen);
        Assert.Equal(32, fpdu.TotalLength);
        Assert.False(fpdu.CrcMatches);
        Assert.Contains("0x0CB190B9", error.Message);
    }

    [Fact]
    public void TryRead_CrcOffAndZeroCrcField_Done()
    {
        byte[] bytes = [.. WireVectors.SendHello.BeforeCrc, 0, 0, 0, 0];
        Assert.Equal(OperationStatus.Done, Fpdu.TryRead(bytes, verifyCrc: false, out var fpdu, out _));
        Assert.False(fpdu.CrcChecked);
        Assert.Equal(23, fpdu.UlpduLength);
    }

    [Fact]
    public void TryRead_LengthLongerThanBuffer_NeedsMoreData()
    {
        // A lying ULPDU_Length cannot be told from a slow sender: the reader waits for the octets.
        byte[] bytes = [0xFF, 0xF0, .. new byte[100]];
        Assert.Equal(OperationStatus.NeedMoreData, Fpdu.TryRead(bytes, verifyCrc: true, out _, out _));
        for (int i = 0; i < WireVectors.SendHello.Fpdu.Length; i++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, Fpdu.TryRead(WireVectors.SendHello.Fpdu.AsSpan(0, i), verifyCrc: true, out _, out _));
        }
    }

    [Fact]
    public void Seal_CrcDisabled_WritesZeroCrcAndZeroPad()
    {
        var buffer = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        WireVectors.SendHello.BeforeCrc.AsSpan(2, 23).CopyTo(buffer.AsSpan(2));
        Assert.Equal(32, Fpdu.Seal(buffer, 23, crcEnabled: false));
        Assert.Equal([.. WireVectors.SendHello.BeforeCrc, 0, 0, 0, 0], buffer);
    }

    [Fact]
    public void WriteThenRead_AnyUlpdu_RoundTrips()
    {
        var ulpdus = Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>());
        Prop.ForAll(ulpdus.ToArbitrary(), ulpdu =>
        {
            var buffer = Enumerable.Repeat((byte)0xFF, ulpdu.Length + 16).ToArray();
            int written = Fpdu.Write(buffer, ulpdu, crcEnabled: true);
            bool padZero = buffer.AsSpan(2 + ulpdu.Length, Fpdu.PadLength(ulpdu.Length)).IndexOfAnyExcept((byte)0) < 0;
            var status = Fpdu.TryRead(buffer.AsSpan(0, written), verifyCrc: true, out var fpdu, out _);
            return status == OperationStatus.Done && padZero && written % 4 == 0 && fpdu.Ulpdu.SequenceEqual(ulpdu);
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(1460, false, 1454)]
    [InlineData(1460, true, 1442)]
    [InlineData(1448, false, 1442)]
    [InlineData(1448, true, 1430)]
    [InlineData(9000, false, 8994)]
    [InlineData(100, false, 128)]
    [InlineData(0, true, 128)]
    [InlineData(65535, false, 64768)]
    [InlineData(1_000_000, true, 64768)]
    public void Mulpdu_FromEmss_MatchesDigestTableAndClamps(int emss, bool markers, int expected)
    {
        Assert.Equal(expected, Mulpdu.FromEmss(emss, markers));
    }
}
