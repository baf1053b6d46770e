defmodule CovenantProcessor do
  @moduledoc "Entry points used by bin/run and bin/call-extractor."
  alias CovenantProcessor.Log

  def main do
    case Application.ensure_all_started(:covenant_processor) do
      {:ok, _} ->
        :ok

      {:error, reason} ->
        Log.error("failed to start", %{reason: inspect(reason, limit: 12, printable_limit: 500)})
        System.halt(1)
    end
  end
end

defmodule CovenantProcessor.Application do
  @moduledoc false
  use Application
  alias CovenantProcessor.{Config, Log, Metrics, Router}

  @impl true
  def start(_type, _args) do
    install_log_handler()
    config = Config.load()
    Metrics.init()

    ip =
      case :inet.parse_address(String.to_charlist(config.host)) do
        {:ok, ip} -> ip
        {:error, _} ->
          case :inet.getaddr(String.to_charlist(config.host), :inet) do
            {:ok, ip} -> ip
            {:error, _} -> raise ArgumentError, "HOST #{inspect(config.host)} cannot be resolved"
          end
      end

    http_opts = [
      name: :covenant_processor_http,
      ip: ip,
      port: config.port,
      loop: &Router.loop/1,
      acceptor_pool_size: 32,
      backlog: 128
    ]

    children = [
      %{id: CovenantProcessor.DB, start: {CovenantProcessor.DB, :start_link, [config.database_url]}},
      {Task.Supervisor, name: CovenantProcessor.JobSupervisor},
      %{id: :http, start: {:mochiweb_http, :start_link, [http_opts]}, type: :worker, shutdown: 5_000}
    ]

    result = Supervisor.start_link(children, strategy: :one_for_one, name: CovenantProcessor.Supervisor)

    case result do
      {:ok, _} ->
        Log.info("listening", %{
          host: config.host,
          port: config.port,
          baml_url: config.baml_url,
          provider_states: config.provider_states,
          fault: config.fault
        })

      {:error, reason} ->
        Log.error("cannot start", %{reason: inspect(reason, limit: 10)})
    end

    result
  end

  @impl true
  def prep_stop(state) do
    Log.info("shutting down")
    state
  end

  @impl true
  def stop(_state) do
    Log.info("stopped")
    :ok
  end

  # JSON lines for OTP/library log events too; nothing else writes to stdout.
  defp install_log_handler do
    for id <- :logger.get_handler_ids(), id != :covenant_json, do: :logger.remove_handler(id)
    :logger.add_handler(:covenant_json, CovenantProcessor.LogHandler, %{level: :warning})
    :ok
  end
end

defmodule CovenantProcessor.CLI do
  @moduledoc """
  bin/call-extractor: calls the extractor through the same client the service uses.
    --base-url URL --function NAME --args JSON
  Prints one JSON line {"status": <int>, "body": <parsed JSON or null>}.
  Exit 0 when an HTTP answer came back, 3 when unreachable, 2 on usage errors.
  """
  alias CovenantProcessor.{Baml, JSON, Log, Trace}

  def main(argv) do
    Log.set_device(:standard_error)
    {:ok, _} = Application.ensure_all_started(:inets)
    {:ok, _} = Application.ensure_all_started(:ssl)

    {opts, rest, invalid} =
      OptionParser.parse(argv, strict: [base_url: :string, function: :string, args: :string])

    cond do
      invalid != [] or rest != [] ->
        usage("unexpected arguments: " <> inspect(Enum.map(invalid, &elem(&1, 0)) ++ rest))

      is_nil(opts[:base_url]) or is_nil(opts[:function]) ->
        usage("--base-url and --function are required")

      true ->
        case JSON.decode(opts[:args] || "{}") do
          {:ok, args} when is_map(args) ->
            trace_id = Trace.trace_id_from(System.get_env("TRACEPARENT"))

            case Baml.call(opts[:base_url], opts[:function], args, trace_id) do
              {:ok, status, body} ->
                IO.write(:standard_io, JSON.encode!({[{"status", status}, {"body", body}]}) <> "\n")
                System.halt(0)

              {:error, reason} ->
                IO.write(:standard_error, "call-extractor: extractor unreachable: #{reason}\n")
                System.halt(3)
            end

          _ ->
            usage("--args must be a JSON object")
        end
    end
  end

  defp usage(msg) do
    IO.write(:standard_error, "call-extractor: #{msg}\nusage: call-extractor --base-url URL --function NAME --args JSON\n")
    System.halt(2)
  end
end
