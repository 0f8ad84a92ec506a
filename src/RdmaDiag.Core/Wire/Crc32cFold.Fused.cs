using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RdmaDiag.Wire;

/// <remarks>
/// <para>Folding keeps the carry-less multiplier busy and leaves the <c>crc32</c> unit idle, so long inputs are
/// cut into superblocks that feed both at once: the first part is folded while three <c>crc32</c> chains run
/// over three equal parts after it.</para>
/// <code>
///  superblock:  [ folded: Rounds x 4 vectors ][ chain 0 ][ chain 1 ][ chain 2 ]
///               each loop round: 4 vector folds and ChainStep octets on each chain
/// </code>
/// <para>Each superblock starts from a zero register, so it does not wait for the previous one; the pieces
/// join by crc(s, A‖B) = s·x^(8|A‖B|) ⊕ crc(0, A)·x^(8|B|) ⊕ crc(0, B) (mod P), with fixed superblock and
/// chain sizes the multipliers are constants.</para>
/// </remarks>
internal static partial class Crc32cFold
{
    /// <summary>Loop rounds per superblock.</summary>
    private const int Rounds = 16;

    /// <summary>
    /// The register that multiplies <paramref name="crc"/> by x^(8·octets) mod P, as <see cref="ShiftBy"/> uses
    /// it: x^(8·octets − 33) mod P (the carry-less product carries one factor x and the <c>crc32</c> that
    /// reduces it another x^32).
    /// </summary>
    internal static uint ShiftMultiplier(int octets) => XPowModP(8 * octets - 33);

    /// <summary><paramref name="crc"/> advanced over as many zero octets as <paramref name="multiplier"/> was made for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint ShiftBy(uint crc, uint multiplier) =>
        BitOperations.Crc32C(0, Pclmulqdq.CarrylessMultiply(Vector128.CreateScalar((ulong)crc), Vector128.CreateScalar((ulong)multiplier), 0x00).ToScalar());

    /// <summary>Octets each chain takes per round, four <c>crc32</c> each: about what the unit does while the folds run.</summary>
    private const int ChainStep = 32;

    /// <summary>Superblock layout and join multipliers for <typeparamref name="T"/>-wide folding.</summary>
    private static class Superblock<T>
        where T : struct, IFoldLanes<T>
    {
        public static readonly uint OverThreeChains = ShiftMultiplier(3 * Rounds * ChainStep);

        public static readonly uint OverTwoChains = ShiftMultiplier(2 * Rounds * ChainStep);

        public static readonly uint OverOneChain = ShiftMultiplier(Rounds * ChainStep);

        public static readonly uint OverSuperblock = ShiftMultiplier(SuperblockLength<T>());
    }

    internal static int SuperblockLength<T>()
        where T : struct, IFoldLanes<T> => Rounds * (4 * T.Octets + 3 * ChainStep);

    /// <summary>
    /// Runs whole superblocks over <paramref name="data"/> and returns the register after them;
    /// <paramref name="consumed"/> is a multiple of the superblock length (zero when the input is shorter).
    /// </summary>
    internal static uint UpdateFused<T>(uint state, ref byte data, nuint length, out nuint consumed)
        where T : struct, IFoldLanes<T>
    {
        nuint w = (nuint)T.Octets;
        nuint folded = (nuint)(Rounds * 4 * T.Octets);
        nuint chain = Rounds * ChainStep;
        nuint block = folded + 3 * chain;
        T acrossFour = T.Broadcast(T.AcrossFour);
        T acrossOne = T.Broadcast(T.AcrossOne);
        uint crc = state;
        nuint at = 0;
        for (; length - at >= block; at += block)
        {
            ref byte f = ref Unsafe.Add(ref data, at);
            ref byte c0 = ref Unsafe.Add(ref f, folded);
            T x0 = T.Load(ref f);
            T x1 = T.Load(ref Unsafe.Add(ref f, w));
            T x2 = T.Load(ref Unsafe.Add(ref f, 2 * w));
            T x3 = T.Load(ref Unsafe.Add(ref f, 3 * w));
            uint r0 = 0, r1 = 0, r2 = 0;
            Chains(ref r0, ref r1, ref r2, ref c0, chain);
            for (nuint v = 4 * w, c = ChainStep; c < chain; v += 4 * w, c += ChainStep)
            {
                x0 = Fold(x0, acrossFour, T.Load(ref Unsafe.Add(ref f, v)));
                x1 = Fold(x1, acrossFour, T.Load(ref Unsafe.Add(ref f, v + w)));
                x2 = Fold(x2, acrossFour, T.Load(ref Unsafe.Add(ref f, v + 2 * w)));
                x3 = Fold(x3, acrossFour, T.Load(ref Unsafe.Add(ref f, v + 3 * w)));
                Chains(ref r0, ref r1, ref r2, ref Unsafe.Add(ref c0, c), chain);
            }
            Vector128<ulong> last = T.Reduce(Fold(Fold(Fold(x0, acrossOne, x1), acrossOne, x2), acrossOne, x3));
            uint foldedCrc = BitOperations.Crc32C(BitOperations.Crc32C(0, last.ToScalar()), last.GetElement(1));
            crc = ShiftBy(crc, Superblock<T>.OverSuperblock)
                ^ ShiftBy(foldedCrc, Superblock<T>.OverThreeChains)
                ^ ShiftBy(r0, Superblock<T>.OverTwoChains)
                ^ ShiftBy(r1, Superblock<T>.OverOneChain)
                ^ r2;
        }
        consumed = at;
        return crc;
    }

    /// <summary>One round on the three chains: <see cref="ChainStep"/> octets at <paramref name="p"/>, <paramref name="p"/> + chain and + 2 chain.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chains(ref uint r0, ref uint r1, ref uint r2, ref byte p, nuint chain)
    {
        ref byte p1 = ref Unsafe.Add(ref p, chain);
        ref byte p2 = ref Unsafe.Add(ref p, 2 * chain);
        r0 = BitOperations.Crc32C(r0, Unsafe.ReadUnaligned<ulong>(ref p));
        r1 = BitOperations.Crc32C(r1, Unsafe.ReadUnaligned<ulong>(ref p1));
        r2 = BitOperations.Crc32C(r2, Unsafe.ReadUnaligned<ulong>(ref p2));
        r0 = BitOperations.Crc32C(r0, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, 8)));
        r1 = BitOperations.Crc32C(r1, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p1, 8)));
        r2 = BitOperations.Crc32C(r2, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p2, 8)));
        r0 = BitOperations.Crc32C(r0, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, 16)));
        r1 = BitOperations.Crc32C(r1, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p1, 16)));
        r2 = BitOperations.Crc32C(r2, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p2, 16)));
        r0 = BitOperations.Crc32C(r0, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, 24)));
        r1 = BitOperations.Crc32C(r1, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p1, 24)));
        r2 = BitOperations.Crc32C(r2, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p2, 24)));
    }
}
