using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;

namespace RdmaDiag.Tests.Wire;

public class Crc32cTests
{
    public static TheoryData<string> CrcVectorNames => new(WireVectors.Crc.Select(v => v.Name));

    [Theory]
    [MemberData(nameof(CrcVectorNames))]
    public void Compute_DigestVector_MatchesValueAndWireOctets(string name)
    {
        var vector = WireVectors.Crc.Single(v => v.Name == name);
        uint crc = Crc32c.Compute(vector.Input);
        Assert.Equal(vector.Crc, crc);
        var wire = new byte[4];
        Crc32c.WriteWire(wire, crc);
        Assert.Equal([(byte)vector.Crc, (byte)(vector.Crc >> 8), (byte)(vector.Crc >> 16), (byte)(vector.Crc >> 24)], wire);
        Assert.Equal(crc, Crc32c.ReadWire(wire));
    }

    [Fact]
    public void WriteWire_Rfc7143ZeroVector_IsLeastSignificantOctetFirst()
    {
        var wire = new byte[4];
        Crc32c.WriteWire(wire, Crc32c.Compute(new byte[32]));
        Assert.Equal(WireVectors.Hex("AA36918A"), wire);
    }

    [Fact]
    public void Update_MessageFollowedByItsWireCrc_LeavesResidue()
    {
        byte[] message = "123456789"u8.ToArray();
        var withCrc = new byte[message.Length + 4];
        message.CopyTo(withCrc, 0);
        Crc32c.WriteWire(withCrc.AsSpan(message.Length), Crc32c.Compute(message));
        Assert.Equal(WireVectors.Residue, Crc32c.Update(Crc32c.Seed, withCrc));
    }

    [Fact]
    public void Update_EmptyInput_LeavesStateUnchanged()
    {
        Assert.Equal(0x12345678u, Crc32c.Update(0x12345678, ReadOnlySpan<byte>.Empty));
        Assert.Equal(0u, Crc32c.Compute(ReadOnlySpan<byte>.Empty));
    }

    internal static byte[] RandomBytes(int seed, int length)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public void Update_RandomLengthsAndAlignments_EqualsNaiveAndSoftware()
    {
        // Short lengths stay on the crc32 chains (every block size: 3 x 8 KiB, 3 x 256, 3 x 64, words, octets);
        // from 256 octets on, CPUs with VPCLMULQDQ fold. Offsets put the vector loads across cache lines.
        var cases = from seed in Gen.Choose(0, int.MaxValue)
                    from length in Gen.OneOf(Gen.Choose(0, 300), Gen.Choose(0, 3000), Gen.Choose(24_000, 80_000), Gen.Choose(0, 300_000))
                    from offset in Gen.Choose(0, 63)
                    from state in ArbMap.Default.GeneratorFor<uint>()
                    select (seed, length, offset, state);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            ReadOnlySpan<byte> data = RandomBytes(c.seed, c.length + c.offset).AsSpan(c.offset);
            uint naive = Crc32c.UpdateNaive(c.state, data);
            return Crc32c.Update(c.state, data) == naive && Crc32c.UpdateSoftware(c.state, data) == naive;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Update_SplitAnywhere_EqualsOneShot()
    {
        var cases = from seed in Gen.Choose(0, int.MaxValue)
                    from length in Gen.OneOf(Gen.Choose(0, 30_000), Gen.Choose(0, 300_000))
                    from cut1 in Gen.Choose(0, length)
                    from cut2 in Gen.Choose(cut1, length)
                    select (seed, length, cut1, cut2);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            byte[] data = RandomBytes(c.seed, c.length);
            uint state = Crc32c.Update(Crc32c.Seed, data.AsSpan(0, c.cut1));
            state = Crc32c.Update(state, data.AsSpan(c.cut1, c.cut2 - c.cut1));
            state = Crc32c.Update(state, data.AsSpan(c.cut2));
            return Crc32c.Finish(state) == Crc32c.Compute(data);
        }).QuickCheckThrowOnFailure();
    }
}
