using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Wire;

namespace RdmaDiag.Tests.Wire;

/// <summary>Runs only where this CPU has carry-less multiply at the given vector width.</summary>
public sealed class FoldWidthFactAttribute : FactAttribute
{
    public FoldWidthFactAttribute(int bits)
    {
        bool supported = Sse42.X64.IsSupported && bits switch
        {
            128 => Crc32cFold.Lanes128.IsSupported,
            256 => Crc32cFold.Lanes256.IsSupported,
            512 => Crc32cFold.Lanes512.IsSupported,
            _ => false,
        };
        if (!supported)
        {
            Skip = $"this CPU has no {bits}-bit carry-less multiply (needs SSE4.2 and "
                + (bits == 128 ? "PCLMULQDQ" : bits == 256 ? "VPCLMULQDQ with AVX" : "VPCLMULQDQ with AVX-512F")
                + "); run on such a CPU to cover this width";
        }
    }
}

public class Crc32cFoldTests
{
    [Fact]
    public void XPowModP_BelowDegree32_IsTheMonomial()
    {
        for (int n = 0; n < 32; n++)
        {
            Assert.Equal(0x8000_0000u >> n, Crc32cFold.XPowModP(n));
        }
        Assert.Equal(Crc32c.Polynomial, Crc32cFold.XPowModP(32));
    }

    [Fact]
    public void XPowModP_EqualsCrcOfOneBitFollowedByZeros()
    {
        // The message 0x01 then k-1 zero octets is x^(8k-1) (bit 0 of the first octet is the highest
        // coefficient); its CRC from a zero register is x^(8k-1) · x^32 mod P, computed here by table.
        for (int k = 1; k <= 600; k++)
        {
            var message = new byte[k];
            message[0] = 0x01;
            Assert.Equal(Crc32c.UpdateSoftware(0, message), Crc32cFold.XPowModP(8 * k + 31));
        }
    }

    [Fact]
    public void FoldConstants_HighQwordMultiplierIsLowQwordOneMultiplierShorter()
    {
        var k = Crc32cFold.FoldConstants(2048);
        Assert.Equal(Crc32cFold.Multiplier(2048 + 64), k.GetElement(0));
        Assert.Equal(Crc32cFold.Multiplier(2048), k.GetElement(1));
        Assert.Equal(0u, (uint)k.GetElement(0));
    }

    [FoldWidthFact(128)]
    public void Multiplier_TimesQword_EqualsCrcOfQwordFollowedByZeros()
    {
        // clmul(Q, Multiplier(8z)) is a 128-bit block congruent to Q followed by z zero octets, so both
        // have the same CRC from a zero register.
        var cases = from q in ArbMap.Default.GeneratorFor<ulong>()
                    from zeros in Gen.Choose(1, 4096)
                    select (q, zeros);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var product = Pclmulqdq.CarrylessMultiply(Vector128.CreateScalar(c.q), Vector128.CreateScalar(Crc32cFold.Multiplier(8 * c.zeros)), 0x00);
            var block = new byte[16];
            product.AsByte().CopyTo(block);
            var message = new byte[8 + c.zeros];
            BinaryPrimitives.WriteUInt64LittleEndian(message, c.q);
            return Crc32c.UpdateNaive(0, block) == Crc32c.UpdateNaive(0, message);
        }).QuickCheckThrowOnFailure();
    }

    [FoldWidthFact(128)]
    public void ShiftBy_Multiplier_EqualsCrcOverZeroOctets()
    {
        var cases = from crc in ArbMap.Default.GeneratorFor<uint>()
                    from zeros in Gen.Choose(5, 70_000)
                    select (crc, zeros);
        Prop.ForAll(cases.ToArbitrary(), c =>
            Crc32cFold.ShiftBy(c.crc, Crc32cFold.ShiftMultiplier(c.zeros)) == Crc32c.UpdateNaive(c.crc, new byte[c.zeros]))
            .QuickCheckThrowOnFailure();
    }

    [FoldWidthFact(128)]
    public void Update128_RandomLengthsOffsetsAndRegisters_EqualsNaive() => FoldEqualsNaive<Crc32cFold.Lanes128>();

    [FoldWidthFact(256)]
    public void Update256_RandomLengthsOffsetsAndRegisters_EqualsNaive() => FoldEqualsNaive<Crc32cFold.Lanes256>();

    [FoldWidthFact(512)]
    public void Update512_RandomLengthsOffsetsAndRegisters_EqualsNaive() => FoldEqualsNaive<Crc32cFold.Lanes512>();

    private delegate uint FoldUpdate(uint state, ref byte data, nuint length, out nuint consumed);

    /// <summary>
    /// Plain folding, superblocks alone and both in turn each leave the naive register for what they
    /// consumed, and consume what they promise: whole vectors, whole superblocks.
    /// </summary>
    private static void FoldEqualsNaive<T>()
        where T : struct, Crc32cFold.IFoldLanes<T>
    {
        int shortest = 4 * T.Octets;
        int superblock = Crc32cFold.SuperblockLength<T>();
        var cases = from seed in Gen.Choose(0, int.MaxValue)
                    from length in Gen.OneOf(Gen.Choose(shortest, shortest + 8 * T.Octets), Gen.Choose(superblock - 64, superblock + 1024),
                        Gen.Choose(shortest, 300_000))
                    from offset in Gen.Choose(0, 63)
                    from state in ArbMap.Default.GeneratorFor<uint>()
                    select (seed, length, offset, state);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            byte[] data = Crc32cTests.RandomBytes(c.seed, c.length + c.offset);
            uint naive = Crc32c.UpdateNaive(c.state, data.AsSpan(c.offset));
            bool Check(FoldUpdate update, Func<nuint, bool> consumedAsPromised)
            {
                uint state = update(c.state, ref data[c.offset], (nuint)c.length, out nuint consumed);
                return consumedAsPromised(consumed) && Crc32c.UpdateNaive(state, data.AsSpan(c.offset + (int)consumed)) == naive;
            }
            nuint w = (nuint)T.Octets;
            nuint length = (nuint)c.length;
            nuint block = (nuint)superblock;
            return Check(Crc32cFold.Update<T>, n => n % w == 0 && length - n < w)
                && Check(Crc32cFold.UpdateFused<T>, n => n % block == 0 && length - n < block)
                && Check(Crc32cFold.UpdateAll<T>, n => length - n < 4 * w);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Update_EveryLengthUpToTwoSuperblocks_EqualsNaive()
    {
        byte[] data = Crc32cTests.RandomBytes(7, 12_000 + 64);
        for (int offset = 0; offset < 64; offset += 21)
        {
            for (int length = 0; length <= 12_000; length++)
            {
                ReadOnlySpan<byte> slice = data.AsSpan(offset, length);
                Assert.Equal(Crc32c.UpdateNaive(0x9E3779B9, slice), Crc32c.Update(0x9E3779B9, slice));
            }
        }
    }
}
