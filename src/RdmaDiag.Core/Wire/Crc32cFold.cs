using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RdmaDiag.Wire;

/// <summary>
/// CRC-32C by carry-less multiply folding (Intel, "Fast CRC Computation for Generic Polynomials Using
/// PCLMULQDQ", 2009), in the bit-reflected domain of the MPA CRC.
/// </summary>
/// <remarks>
/// <para>Read 16 octets little-endian as a 128-bit value V. In the reflected domain bit i of V is the
/// coefficient of x^(127-i) of a polynomial A of degree below 128, so the low qword holds the high half H and
/// the high qword the low half L: A = H·x^64 + L. Data that still has D bits after it contributes A·x^D, and
/// A·x^D ≡ H·(x^(D+64) mod P) + L·(x^D mod P), a polynomial of degree below 96 that fits back in 128 bits
/// and can be XORed into the block D bits further on. Repeating this "fold" keeps a few 128-bit
/// accumulators congruent to everything read so far; at the end one 128-bit block remains, and its CRC from
/// a zero register is two <c>crc32</c> instructions.</para>
/// <para>The starting register enters by XOR into the first four octets: a reflected CRC XORs its register
/// into the next 32 data bits, and the CRC is linear, so crc(s, D) = crc(0, D ⊕ s).</para>
/// <para>Four independent accumulators hide the multiply latency; with VPCLMULQDQ each accumulator is a
/// 256- or 512-bit register of independent 128-bit lanes.</para>
/// </remarks>
internal static partial class Crc32cFold
{
    /// <summary>
    /// x^n mod P in the form a CRC register has: the coefficient of x^j at bit 31-j.
    /// </summary>
    internal static uint XPowModP(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        uint r = 0x8000_0000;
        for (int i = 0; i < n; i++)
        {
            // Times x: every coefficient moves one bit down; x^31 becomes x^32 ≡ P - x^32.
            r = (r >> 1) ^ (Crc32c.Polynomial & (0u - (r & 1)));
        }
        return r;
    }

    /// <summary>
    /// The 64-bit multiplier that takes a reflected qword Q to Q·x^n mod P. A carry-less multiply of two
    /// reflected operands returns their product times x (bit k of the result is the coefficient of
    /// x^(126-k), one place short of the reflected 128-bit meaning x^(127-k)), so the multiplier is
    /// x^(n-1) mod P, reflected within 64 bits (coefficient of x^j at bit 63-j).
    /// </summary>
    internal static ulong Multiplier(int n) => (ulong)XPowModP(n - 1) << 32;

    /// <summary>
    /// Multipliers for moving a 128-bit block forward over <paramref name="distanceBits"/> bits: element 0
    /// for its low qword (x^(D+64)), element 1 for its high qword (x^D), as <see cref="Fold"/> pairs them.
    /// </summary>
    internal static Vector128<ulong> FoldConstants(int distanceBits) =>
        Vector128.Create(Multiplier(distanceBits + 64), Multiplier(distanceBits));

    /// <summary>True when this CPU folds faster than the three <c>crc32</c> chains of <see cref="Crc32c"/>.</summary>
    internal static bool IsSupported => Sse42.X64.IsSupported && (Lanes512.IsSupported || Lanes256.IsSupported);

    /// <summary>
    /// Shortest input the fold path takes (four 512-bit or eight 256-bit vectors); shorter inputs stay on the <c>crc32</c>
    /// chains, which need no reduction at the end.
    /// </summary>
    internal const int Threshold = 256;

    /// <summary>
    /// Folds the widest supported way over <paramref name="data"/> (at least <see cref="Threshold"/> octets)
    /// and returns the register after the part it took; <paramref name="consumed"/> says how far that is
    /// (fewer than <see cref="Threshold"/> octets remain).
    /// </summary>
    internal static uint Update(uint state, ref byte data, nuint length, out nuint consumed) =>
        Lanes512.IsSupported ? UpdateAll<Lanes512>(state, ref data, length, out consumed) : UpdateAll<Lanes256>(state, ref data, length, out consumed);

    /// <summary>
    /// Superblocks that fold and run <c>crc32</c> chains at once, then plain folding over the rest when four
    /// vectors or more remain; fewer than four vectors are left.
    /// </summary>
    internal static uint UpdateAll<T>(uint state, ref byte data, nuint length, out nuint consumed)
        where T : struct, IFoldLanes<T>
    {
        state = UpdateFused<T>(state, ref data, length, out nuint fused);
        consumed = fused;
        if (length - fused >= (nuint)(4 * T.Octets))
        {
            state = Update<T>(state, ref Unsafe.Add(ref data, fused), length - fused, out nuint folded);
            consumed += folded;
        }
        return state;
    }

    /// <summary>
    /// Folds with <typeparamref name="T"/>-wide accumulators; needs <c>4 · T.Octets</c> octets or more.
    /// </summary>
    internal static uint Update<T>(uint state, ref byte data, nuint length, out nuint consumed)
        where T : struct, IFoldLanes<T>
    {
        nuint w = (nuint)T.Octets;
        T x0 = T.Load(ref data) ^ T.Register(state);
        T x1 = T.Load(ref Unsafe.Add(ref data, w));
        T x2 = T.Load(ref Unsafe.Add(ref data, 2 * w));
        T x3 = T.Load(ref Unsafe.Add(ref data, 3 * w));
        nuint at = 4 * w;
        T acrossFour = T.Broadcast(T.AcrossFour);
        for (; length - at >= 4 * w; at += 4 * w)
        {
            x0 = Fold(x0, acrossFour, T.Load(ref Unsafe.Add(ref data, at)));
            x1 = Fold(x1, acrossFour, T.Load(ref Unsafe.Add(ref data, at + w)));
            x2 = Fold(x2, acrossFour, T.Load(ref Unsafe.Add(ref data, at + 2 * w)));
            x3 = Fold(x3, acrossFour, T.Load(ref Unsafe.Add(ref data, at + 3 * w)));
        }
        T acrossOne = T.Broadcast(T.AcrossOne);
        T x = Fold(Fold(Fold(x0, acrossOne, x1), acrossOne, x2), acrossOne, x3);
        for (; length - at >= w; at += w)
        {
            x = Fold(x, acrossOne, T.Load(ref Unsafe.Add(ref data, at)));
        }
        consumed = at;
        Vector128<ulong> last = T.Reduce(x);
        return BitOperations.Crc32C(BitOperations.Crc32C(0, last.ToScalar()), last.GetElement(1));
    }

    /// <summary>x·x^D + data for every 128-bit lane, D being what <paramref name="constants"/> were made for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Fold<T>(T x, T constants, T data)
        where T : struct, IFoldLanes<T> =>
        T.Xor3(T.MultiplyLow(x, constants), T.MultiplyHigh(x, constants), data);

    /// <summary>One accumulator: a vector of independent 128-bit lanes, the earliest data in lane 0.</summary>
    internal interface IFoldLanes<T>
        where T : struct, IFoldLanes<T>
    {
        static abstract T operator ^(T left, T right);

        /// <summary>a ⊕ b ⊕ c, one instruction where AVX-512 has three-input logic.</summary>
        static virtual T Xor3(T a, T b, T c) => a ^ b ^ c;

        static abstract bool IsSupported { get; }

        static abstract int Octets { get; }

        /// <summary>Fold constants over four accumulators' width, the main loop's step.</summary>
        static abstract Vector128<ulong> AcrossFour { get; }

        /// <summary>Fold constants over one accumulator's width.</summary>
        static abstract Vector128<ulong> AcrossOne { get; }

        static abstract T Load(ref byte source);

        /// <summary>A CRC register as the first four octets, zeros elsewhere.</summary>
        static abstract T Register(uint state);

        static abstract T Broadcast(Vector128<ulong> constants);

        /// <summary>Per lane: low qword of <paramref name="x"/> times element 0 of the lane's constants.</summary>
        static abstract T MultiplyLow(T x, T constants);

        /// <summary>Per lane: high qword of <paramref name="x"/> times element 1 of the lane's constants.</summary>
        static abstract T MultiplyHigh(T x, T constants);

        /// <summary>The lanes folded into one 128-bit block congruent to all of them.</summary>
        static abstract Vector128<ulong> Reduce(T x);
    }

    internal readonly struct Lanes128(Vector128<ulong> value) : IFoldLanes<Lanes128>
    {
        private static readonly Vector128<ulong> Four = FoldConstants(4 * 128);
        private static readonly Vector128<ulong> One = FoldConstants(128);

        public Vector128<ulong> Value { get; } = value;

        public static bool IsSupported => Pclmulqdq.IsSupported;

        public static int Octets => 16;

        public static Vector128<ulong> AcrossFour => Four;

        public static Vector128<ulong> AcrossOne => One;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes128 Load(ref byte source) => new(Vector128.LoadUnsafe(ref source).AsUInt64());

        public static Lanes128 Register(uint state) => new(Vector128.CreateScalar((ulong)state));

        public static Lanes128 Broadcast(Vector128<ulong> constants) => new(constants);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes128 MultiplyLow(Lanes128 x, Lanes128 constants) => new(Pclmulqdq.CarrylessMultiply(x.Value, constants.Value, 0x00));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes128 MultiplyHigh(Lanes128 x, Lanes128 constants) => new(Pclmulqdq.CarrylessMultiply(x.Value, constants.Value, 0x11));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<ulong> Reduce(Lanes128 x) => x.Value;

        public static Lanes128 operator ^(Lanes128 left, Lanes128 right) => new(left.Value ^ right.Value);
    }

    internal readonly struct Lanes256(Vector256<ulong> value) : IFoldLanes<Lanes256>
    {
        private static readonly Vector128<ulong> Four = FoldConstants(4 * 256);
        private static readonly Vector128<ulong> One = FoldConstants(256);
        private static readonly Vector128<ulong> Half = FoldConstants(128);

        public Vector256<ulong> Value { get; } = value;

        public static bool IsSupported => Pclmulqdq.V256.IsSupported;

        public static int Octets => 32;

        public static Vector128<ulong> AcrossFour => Four;

        public static Vector128<ulong> AcrossOne => One;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes256 Load(ref byte source) => new(Vector256.LoadUnsafe(ref source).AsUInt64());

        public static Lanes256 Register(uint state) => new(Vector256.CreateScalar((ulong)state));

        public static Lanes256 Broadcast(Vector128<ulong> constants) => new(Vector256.Create(constants, constants));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes256 MultiplyLow(Lanes256 x, Lanes256 constants) => new(Pclmulqdq.V256.CarrylessMultiply(x.Value, constants.Value, 0x00));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes256 MultiplyHigh(Lanes256 x, Lanes256 constants) => new(Pclmulqdq.V256.CarrylessMultiply(x.Value, constants.Value, 0x11));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<ulong> Reduce(Lanes256 x) =>
            Fold(new Lanes128(x.Value.GetLower()), new Lanes128(Half), new Lanes128(x.Value.GetUpper())).Value;

        public static Lanes256 operator ^(Lanes256 left, Lanes256 right) => new(left.Value ^ right.Value);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes256 Xor3(Lanes256 a, Lanes256 b, Lanes256 c) =>
            Avx512F.VL.IsSupported ? new(Avx512F.VL.TernaryLogic(a.Value, b.Value, c.Value, 0x96)) : a ^ b ^ c;
    }

    internal readonly struct Lanes512(Vector512<ulong> value) : IFoldLanes<Lanes512>
    {
        private static readonly Vector128<ulong> Four = FoldConstants(4 * 512);
        private static readonly Vector128<ulong> One = FoldConstants(512);
        private static readonly Vector128<ulong> Half = FoldConstants(256);

        public Vector512<ulong> Value { get; } = value;

        public static bool IsSupported => Pclmulqdq.V512.IsSupported && Pclmulqdq.V256.IsSupported;

        public static int Octets => 64;

        public static Vector128<ulong> AcrossFour => Four;

        public static Vector128<ulong> AcrossOne => One;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes512 Load(ref byte source) => new(Vector512.LoadUnsafe(ref source).AsUInt64());

        public static Lanes512 Register(uint state) => new(Vector512.CreateScalar((ulong)state));

        public static Lanes512 Broadcast(Vector128<ulong> constants) => new(Vector512.Create(Vector256.Create(constants, constants), Vector256.Create(constants, constants)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes512 MultiplyLow(Lanes512 x, Lanes512 constants) => new(Pclmulqdq.V512.CarrylessMultiply(x.Value, constants.Value, 0x00));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes512 MultiplyHigh(Lanes512 x, Lanes512 constants) => new(Pclmulqdq.V512.CarrylessMultiply(x.Value, constants.Value, 0x11));

        // Lanes 0 and 1 move over 256 bits onto lanes 2 and 3, then the 256-bit reduction finishes.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<ulong> Reduce(Lanes512 x) =>
            Lanes256.Reduce(Fold(new Lanes256(x.Value.GetLower()), Lanes256.Broadcast(Half), new Lanes256(x.Value.GetUpper())));

        public static Lanes512 operator ^(Lanes512 left, Lanes512 right) => new(left.Value ^ right.Value);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Lanes512 Xor3(Lanes512 a, Lanes512 b, Lanes512 c) => new(Avx512F.TernaryLogic(a.Value, b.Value, c.Value, 0x96));
    }
}
