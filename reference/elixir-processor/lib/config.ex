defmodule CovenantProcessor.Config do
  @moduledoc "Environment configuration, read once at start."
  alias CovenantProcessor.Log

  @faults ["renamed-field", "wrong-status", "missing-endpoint"]

  def load do
    fault =
      case System.get_env("COVENANT_FAULT") do
        nil -> nil
        "" -> nil
        f when f in @faults -> f
        other ->
          Log.warn("unknown COVENANT_FAULT ignored", %{fault: other, known: @faults})
          nil
      end

    baml =
      case System.get_env("BAML_URL") do
        nil -> nil
        "" -> nil
        u -> String.trim_trailing(u, "/")
      end

    config = %{
      host: System.get_env("HOST") || "127.0.0.1",
      port: parse_port(System.get_env("PORT")),
      database_url: System.get_env("DATABASE_URL"),
      baml_url: baml,
      provider_states: System.get_env("PACT_PROVIDER_STATES") == "true",
      # Pages are fetched only from these hosts (comma-separated), so fuzzing or a
      # malicious scrape request cannot make the service reach arbitrary hosts.
      fetch_allowed_hosts:
        (System.get_env("FETCH_ALLOWED_HOSTS") || "127.0.0.1,localhost,::1")
        |> String.split(",", trim: true)
        |> Enum.map(&String.trim/1),
      fault: fault
    }

    :persistent_term.put({__MODULE__, :config}, config)
    config
  end

  def get(key), do: Map.get(:persistent_term.get({__MODULE__, :config}, %{}), key)
  def fault?(name), do: get(:fault) == name

  defp parse_port(nil), do: 8080
  defp parse_port(""), do: 8080

  defp parse_port(p) do
    case Integer.parse(p) do
      {n, ""} when n >= 0 and n < 65536 -> n
      _ -> raise ArgumentError, "PORT must be an integer 0..65535, got #{inspect(p)}"
    end
  end
end

defmodule CovenantProcessor.Problem do
  @moduledoc "RFC 9457 problem documents."
  @base "https://covenant.dev/problems/"

  def body(status, slug, title, detail) do
    %{"type" => @base <> slug, "title" => title, "status" => status, "detail" => detail}
  end
end
