using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RdmaDiag.Wire;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the MPA FPDU CRC. Initial register 0xFFFFFFFF,
/// final XOR 0xFFFFFFFF, written to the wire least-significant octet first (iwarp-wire.md §2.7).
/// </summary>
/// <remarks>
/// <para>The incremental API works on the raw register: start at <see cref="Seed"/>, call
/// <see cref="Update"/> once per piece (a CRC can span many TCP segments or marker gaps), then
/// <see cref="Finish"/>.</para>
/// <para>Speed: one <c>crc32</c> instruction has a latency of about three cycles but a throughput of one
/// per cycle, so a single dependency chain leaves two thirds of the unit idle. Large inputs are cut into
/// three adjacent blocks whose CRCs run as independent chains; the partial registers are then joined with
/// crc(s, A‖B‖C) = shift(crc(s, A), |B|+|C|) ⊕ shift(crc(0, B), |C|) ⊕ crc(0, C), where shift (advancing
/// a register over zero octets) is linear in the register and so is four table lookups. Block sizes step
/// down from 8 KiB to 64 octets so short inputs and tails also run on three chains.</para>
/// <para>Three chains use the whole <c>crc32</c> unit, so on CPUs with VPCLMULQDQ inputs of 256 octets and
/// more go to <see cref="Crc32cFold"/>, which folds with carry-less multiplies and keeps the <c>crc32</c> unit
/// busy alongside; the chains above then take only what remains (under 256 octets).</para>
/// </remarks>
public static class Crc32c
{
    public const uint Seed = 0xFFFFFFFF;

    /// <summary>Reflected Castagnoli polynomial.</summary>
    public const uint Polynomial = 0x82F63B78;

    /// <summary>Size of the CRC field on the wire.</summary>
    public const int Size = 4;

    // Three-lane block sizes, largest first, each a multiple of 8. Bigger blocks amortise the join; the
    // smaller ones keep short inputs (1 KiB) and the tail of long ones on three lanes.
    private const int LongBlock = 8192;
    private const int MediumBlock = 1024;
    private const int ShortBlock = 256;
    private const int TinyBlock = 64;

    // For each block size: shift over one block, then over two blocks (tables of 4 x 256 entries each).
    private static readonly uint[] LongShift = BuildShiftTables(LongBlock);
    private static readonly uint[] MediumShift = BuildShiftTables(MediumBlock);
    private static readonly uint[] ShortShift = BuildShiftTables(ShortBlock);
    private static readonly uint[] TinyShift = BuildShiftTables(TinyBlock);
    private static readonly uint[] SoftwareTables = BuildSoftwareTables();

    /// <summary>True when the CPU has a CRC-32C instruction (x86 SSE4.2 or Arm64 CRC32).</summary>
    public static bool IsHardwareAccelerated { get; } =
        System.Runtime.Intrinsics.X86.Sse42.X64.IsSupported || System.Runtime.Intrinsics.Arm.Crc32.Arm64.IsSupported;

    /// <summary>What <see cref="Update"/> runs on this CPU, for benchmark and self-test output.</summary>
    public static string FastPath { get; } =
        IsHardwareAccelerated && Crc32cFold.IsSupported
            ? $"carry-less multiply folding, {(Crc32cFold.Lanes512.IsSupported ? 512 : 256)}-bit VPCLMULQDQ with 3 crc32 chains alongside, from {Crc32cFold.Threshold} octets; 3 interleaved crc32 lanes below"
            : IsHardwareAccelerated ? "hardware crc32, 3 interleaved lanes joined by shift tables" : "slicing-by-8 tables";

    /// <summary>The finished CRC-32C of <paramref name="data"/> (the value whose octets go on the wire).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(Seed, data);

    public static uint Finish(uint state) => ~state;

    /// <summary>Advances the raw register <paramref name="state"/> over <paramref name="data"/>.</summary>
    public static uint Update(uint state, ReadOnlySpan<byte> data) =>
        IsHardwareAccelerated ? UpdateHardware(state, data) : UpdateSoftware(state, data);

    /// <summary>
    /// The plain loop, one 64-bit <see cref="BitOperations.Crc32C(uint, ulong)"/> per step on one chain.
    /// Kept as the benchmark baseline and the reference the fast path is tested against.
    /// </summary>
    public static uint UpdateNaive(uint state, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }
        return state;
    }

    /// <summary>Writes a finished CRC in MPA wire order: least-significant octet first.</summary>
    public static void WriteWire(Span<byte> destination, uint crc) => BinaryPrimitives.WriteUInt32LittleEndian(destination, crc);

    /// <summary>Reads a CRC field in MPA wire order.</summary>
    public static uint ReadWire(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadUInt32LittleEndian(source);

    private static uint UpdateHardware(uint state, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        nuint at = 0;
        if (Crc32cFold.IsSupported && length >= Crc32cFold.Threshold)
        {
            // A separate out local: passing `at` by reference would keep it in memory through the loops below.
            state = Crc32cFold.Update(state, ref p, length, out nuint folded);
            at = folded;
        }
        if (length - at >= 3 * TinyBlock)
        {
            state = Blocks(state, ref p, ref at, length, LongBlock, LongShift);
            state = Blocks(state, ref p, ref at, length, MediumBlock, MediumShift);
            state = Blocks(state, ref p, ref at, length, ShortBlock, ShortShift);
            state = Blocks(state, ref p, ref at, length, TinyBlock, TinyShift);
        }
        for (; length - at >= 8; at += 8)
        {
            state = BitOperations.Crc32C(state, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, at)));
        }
        for (; at < length; at++)
        {
            state = BitOperations.Crc32C(state, Unsafe.Add(ref p, at));
        }
        return state;
    }

    /// <summary>Consumes as many three-block groups of <paramref name="block"/> octets as fit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Blocks(uint state, ref byte p, ref nuint at, nuint length, nuint block, uint[] shift)
    {
        for (; length - at >= 3 * block; at += 3 * block)
        {
            state = ThreeLanes(state, ref Unsafe.Add(ref p, at), block, shift);
        }
        return state;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ThreeLanes(uint state, ref byte p, nuint block, uint[] shift)
    {
        uint c0 = state, c1 = 0, c2 = 0;
        ref byte p1 = ref Unsafe.Add(ref p, block);
        ref byte p2 = ref Unsafe.Add(ref p, 2 * block);
        for (nuint i = 0; i < block; i += 8)
        {
            c0 = BitOperations.Crc32C(c0, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
            c1 = BitOperations.Crc32C(c1, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p1, i)));
            c2 = BitOperations.Crc32C(c2, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p2, i)));
        }
        // Both shifts read their tables in parallel: crc = shift2(c0) ^ shift1(c1) ^ c2.
        ref uint tables = ref MemoryMarshal.GetArrayDataReference(shift);
        return Shift(ref Unsafe.Add(ref tables, 1024), c0) ^ Shift(ref tables, c1) ^ c2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Shift(ref uint t, uint crc) =>
        Unsafe.Add(ref t, (int)(crc & 0xFF))
        ^ Unsafe.Add(ref t, 256 + (int)((crc >> 8) & 0xFF))
        ^ Unsafe.Add(ref t, 512 + (int)((crc >> 16) & 0xFF))
        ^ Unsafe.Add(ref t, 768 + (int)(crc >> 24));

    /// <summary>
    /// Tables for "advance a register over <paramref name="zeroOctets"/> zero octets" (entries 0..1023) and over
    /// twice that (1024..2047). Each map is linear in the register, so four 256-entry tables, one per register
    /// octet, hold the XOR of its values on the single-bit registers.
    /// </summary>
    private static uint[] BuildShiftTables(int zeroOctets)
    {
        var tables = new uint[2 * 4 * 256];
        Span<uint> basis = stackalloc uint[32];
        for (int bit = 0; bit < 32; bit++)
        {
            basis[bit] = 1u << bit;
        }
        for (int half = 0; half < 2; half++)
        {
            for (int bit = 0; bit < 32; bit++)
            {
                for (int i = 0; i < zeroOctets; i += 8)
                {
                    basis[bit] = BitOperations.Crc32C(basis[bit], 0UL);
                }
            }
            for (int octet = 0; octet < 4; octet++)
            {
                for (int value = 0; value < 256; value++)
                {
                    uint r = 0;
                    for (int bit = 0; bit < 8; bit++)
                    {
                        if ((value & (1 << bit)) != 0)
                        {
                            r ^= basis[8 * octet + bit];
                        }
                    }
                    tables[1024 * half + 256 * octet + value] = r;
                }
            }
        }
        return tables;
    }

    private static uint SoftwareByte(uint crc, byte value)
    {
        crc ^= value;
        for (int k = 0; k < 8; k++)
        {
            crc = (crc >> 1) ^ (Polynomial & (0u - (crc & 1)));
        }
        return crc;
    }

    // Slicing-by-8: table k advances a register by one octet followed by k zero octets.
    private static uint[] BuildSoftwareTables()
    {
        var t = new uint[8 * 256];
        for (int i = 0; i < 256; i++)
        {
            t[i] = SoftwareByte(0, (byte)i);
        }
        for (int k = 1; k < 8; k++)
        {
            for (int i = 0; i < 256; i++)
            {
                uint prev = t[256 * (k - 1) + i];
                t[256 * k + i] = (prev >> 8) ^ t[prev & 0xFF];
            }
        }
        return t;
    }

    /// <summary>Table-driven CRC for CPUs without a CRC instruction.</summary>
    internal static uint UpdateSoftware(uint state, ReadOnlySpan<byte> data)
    {
        uint[] t = SoftwareTables;
        while (data.Length >= 8)
        {
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(data) ^ state;
            state = t[7 * 256 + (int)(v & 0xFF)]
                  ^ t[6 * 256 + (int)((v >> 8) & 0xFF)]
                  ^ t[5 * 256 + (int)((v >> 16) & 0xFF)]
                  ^ t[4 * 256 + (int)((v >> 24) & 0xFF)]
                  ^ t[3 * 256 + (int)((v >> 32) & 0xFF)]
                  ^ t[2 * 256 + (int)((v >> 40) & 0xFF)]
                  ^ t[1 * 256 + (int)((v >> 48) & 0xFF)]
                  ^ t[(int)(v >> 56)];
            data = data[8..];
        }
        foreach (byte b in data)
        {
            state = t[(int)((state ^ b) & 0xFF)] ^ (state >> 8);
        }
        return state;
    }
}
