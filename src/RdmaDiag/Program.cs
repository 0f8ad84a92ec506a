namespace RdmaDiag.Cli;

public static class Program
{
    public static int Main(string[] args) => CliRoot.Run(args, Console.Out, Console.Error);
}
