using System.Text;
using RdmaDiag.Rping;

namespace RdmaDiag.Tests.Rping;

public class RpingProtocolTests
{
    [Fact]
    public void BufferInfo_Written_IsRpingRdmaInfoBigEndian()
    {
        // struct rping_rdma_info { __be64 buf; __be32 rkey; __be32 size; }: 16 octets, no padding.
        var destination = new byte[20];
        Array.Fill(destination, (byte)0xFF);

        new RpingBufferInfo(0x00007F1234567890, 0xDEADBEEF, 64).Write(destination);

        Assert.Equal(Convert.FromHexString("00007F1234567890" + "DEADBEEF" + "00000040" + "FFFFFFFF"), destination);
    }

    [Fact]
    public void BufferInfo_ReadFromHandComputedBytes_DecodesEachField()
    {
        byte[] message = Convert.FromHexString("0000563412ABCDEF" + "00012345" + "0000FFFF");

        Assert.True(RpingBufferInfo.TryRead(message, out RpingBufferInfo info, out string error), error);

        Assert.Equal(new RpingBufferInfo(0x0000563412ABCDEF, 0x00012345, 65535), info);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(17)]
    [InlineData(64)]
    public void BufferInfo_NotSixteenOctets_IsBogusDataAsRpingSaysIt(int length)
    {
        Assert.False(RpingBufferInfo.TryRead(new byte[length], out _, out string error));

        Assert.Contains($"bogus data, size {length}", error);
    }

    [Fact]
    public void BufferInfo_GoAheadOfZeros_ReadsAsZeroInfo()
    {
        Assert.True(RpingBufferInfo.TryRead(new byte[RpingBufferInfo.Length], out RpingBufferInfo info, out _));

        Assert.Equal(default, info);
    }

    [Theory]
    [InlineData(64, 0, "rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr")]
    [InlineData(64, 57, "rdma-ping-57: zABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnop")]
    [InlineData(26, 9, "rdma-ping-9: JKLMNOPQRSTU")]
    [InlineData(26, int.MaxValue, "rdma-ping-2147483647: HIJ")]
    [InlineData(10, 3, "rdma-ping")]
    public void Pattern_Filled_IsRpingsTextThenNul(int size, int ping, string text)
    {
        var buffer = new byte[size];
        Array.Fill(buffer, (byte)0xFF);

        RpingPattern.Fill(buffer, ping);

        Assert.Equal(Encoding.ASCII.GetBytes(text + "\0"), buffer);
    }

    [Fact]
    public void Pattern_StartLetter_AdvancesOnePerPingAndWrapsAfterLowercaseZ()
    {
        var buffer = new byte[RpingProtocol.DefaultSize];
        var starts = new List<char>();
        foreach (int ping in new[] { 0, 1, 57, 58, 59 })
        {
            RpingPattern.Fill(buffer, ping);
            starts.Add((char)buffer[RpingPattern.Prefix(ping).Length]);
        }

        Assert.Equal(['A', 'B', 'z', 'A', 'B'], starts);
    }

    [Fact]
    public void Pattern_VerifyOwnPing_IsTrue()
    {
        var buffer = new byte[4096];
        RpingPattern.Fill(buffer, 1234);

        Assert.True(RpingPattern.Verify(buffer, 1234, out string difference), difference);
    }

    [Fact]
    public void Pattern_VerifyOtherPing_NamesFirstDifferingOctet()
    {
        var buffer = new byte[64];
        RpingPattern.Fill(buffer, 1);

        Assert.False(RpingPattern.Verify(buffer, 2, out string difference));

        Assert.Equal("octet 10 of ping 2 is 0x31 '1', rping's pattern has 0x32 '2'", difference);
    }

    [Fact]
    public void Pattern_Text_StopsAtNul()
    {
        var buffer = new byte[32];
        RpingPattern.Fill(buffer, 0);

        Assert.Equal("rdma-ping-0: ABCDEFGHIJKLMNOPQR", RpingPattern.Text(buffer));
    }

    [Theory]
    [InlineData(25)]
    [InlineData(65536)]
    public void CheckSize_OutsideRpingsRange_IsUserErrorNamingTheRange(int size)
    {
        var e = Assert.Throws<UserInputException>(() => RpingProtocol.CheckSize(size));

        Assert.Contains($"--size {size}", e.Message);
        Assert.Contains("26 to 65535", e.Message);
    }
}
