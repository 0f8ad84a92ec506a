using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

public class DataTransferTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData(ProgressMode.Background, 64)]
    [InlineData(ProgressMode.Inline, 64)]
    [InlineData(ProgressMode.Background, 1 << 20)]
    [InlineData(ProgressMode.Inline, 1 << 20)]
    public async Task Send_PostedReceive_DeliversSameBytes(ProgressMode mode, int size)
    {
        var options = new IwarpConnectionOptions { Progress = mode };
        var buffer = new byte[size];
        using var pair = await EndpointPair.ConnectAsync(clientOptions: options, serverOptions: options,
            prepareServer: s => s.PostReceive(7, buffer));
        byte[] data = Pattern(size, 1);

        pair.Client.PostSend(1, data);

        Completion received = await pair.Server.WaitForCompletionAsync(Wait);
        Assert.Equal(new Completion(7, CompletionOpcode.Receive, CompletionStatus.Success, size), received);
        Assert.Equal(data, buffer);
        Completion sent = pair.Client.WaitForCompletion(Wait);
        Assert.Equal(new Completion(1, CompletionOpcode.Send, CompletionStatus.Success, size), sent);
    }

    [Fact]
    public async Task Connect_ReturnsTheParametersInForce()
    {
        using var listener = IwarpListener.Start(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        using var client = new IwarpConnection();
        Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint);
        using var server = new IwarpConnection();
        (await listener.AcceptAsync()).Accept(server);

        NegotiatedParameters parameters = await connect.WaitAsync(Wait);

        Assert.Same(client.Parameters, parameters);
        Assert.True(parameters.Emss > 0);
        Assert.Equal(RdmaDiag.Wire.Mpa.Mulpdu.FromEmss(parameters.Emss, markers: false), parameters.Mulpdu);
    }
}
