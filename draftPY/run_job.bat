@ECHO OFF
REM Shared body of the job launchers at the project root (run_demo.bat, run_sample.bat, run_report.bat,
REM run_ablation.bat, run_benchmark.bat; Linux twin: run_job.sh).
REM
REM     CALL run_job.bat          (after SET "JOB=demo", sample, report, ablation or benchmark)
REM
REM Called by a job launcher after it SET its settings: builds the job's command from them and runs it
REM from the project root. Relative paths are relative to the project root; each is made a full path
REM without a trailing backslash. The launcher-only settings are run_vaegan.bat's: PYTHON_EXE (default
REM venv\Scripts\python.exe next to the project, else python on PATH), EXTRA_ARGS (appended verbatim),
REM DRY_RUN (true: print the command instead of running it); the calling launcher pauses (PAUSE_AT_END).
REM Exit code: the job's own (each script's docstring lists its codes); 2 for an unknown job or BENCHMARK.

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"
pushd "%~dp0.." || GOTO :finish
SET "LAUNCHER_PUSHED=1"
SET "ROOT=%~dp0.."

IF NOT DEFINED EXTRA_ARGS SET "EXTRA_ARGS="
IF NOT DEFINED DRY_RUN SET "DRY_RUN=false"

REM ---- paths: full, relative ones from the project root, no trailing backslash (see :normalise_path)
CALL :normalise_path ROOT
CALL :normalise_path CHECKPOINT
CALL :normalise_path VIDEO
CALL :normalise_path OUTPUT_DIR
CALL :normalise_path RUN_FOLDER
CALL :normalise_path REPORT_FILE
CALL :normalise_path OUT
REM GRID is a preset name or a file: only the trailing backslashes go
CALL :strip_trailing_backslashes GRID

REM ---- interpreter: the project's venv when there is one
IF NOT DEFINED PYTHON_EXE IF EXIST "!ROOT!\venv\Scripts\python.exe" SET "PYTHON_EXE=!ROOT!\venv\Scripts\python.exe"
IF NOT DEFINED PYTHON_EXE SET "PYTHON_EXE=python"

IF /I "!JOB!"=="demo" GOTO :job_demo
IF /I "!JOB!"=="sample" GOTO :job_sample
IF /I "!JOB!"=="report" GOTO :job_report
IF /I "!JOB!"=="ablation" GOTO :job_ablation
IF /I "!JOB!"=="benchmark" GOTO :job_benchmark
ECHO run_job.bat is called by the job launchers (run_demo.bat, run_sample.bat, ...): start one of those. 1>&2
SET "EXIT_CODE=2"
GOTO :finish

REM ---- one section per job: its command, one line per flag (tests\test_launchers.py reads these lines)
:job_demo
REM the README's command, run from the project root: the same run folder and the same figures
SET "CMD="!PYTHON_EXE!" "!ROOT!\draftPY\WuBuGAADHybridGen_v0.1.py""
GOTO :launch

:job_sample
SET "CMD="!PYTHON_EXE!" "!ROOT!\draftPY\wubugaad_sample.py""
SET "CMD=!CMD! --checkpoint "!CHECKPOINT!""
SET "CMD=!CMD! --mode !MODE!"
IF DEFINED VIDEO SET "CMD=!CMD! --video "!VIDEO!""
SET "CMD=!CMD! --num_samples !NUM_SAMPLES!"
IF DEFINED NUM_CLIPS SET "CMD=!CMD! --num_clips !NUM_CLIPS!"
IF DEFINED NUM_FRAMES SET "CMD=!CMD! --num_frames !NUM_FRAMES!"
SET "CMD=!CMD! --output_dir "!OUTPUT_DIR!""
SET "CMD=!CMD! --format !FORMAT!"
SET "CMD=!CMD! --seed !SEED!"
IF DEFINED DEVICE SET "CMD=!CMD! --device !DEVICE!"
GOTO :launch

:job_report
SET "CMD="!PYTHON_EXE!" "!ROOT!\draftPY\wubugaad_report.py" "!RUN_FOLDER!""
IF DEFINED REPORT_FILE SET "CMD=!CMD! --output "!REPORT_FILE!""
GOTO :launch

:job_ablation
SET "CMD="!PYTHON_EXE!" "!ROOT!\draftPY\wubugaad_ablate.py""
SET "CMD=!CMD! --grid "!GRID!""
SET "CMD=!CMD! --seeds !SEEDS!"
SET "CMD=!CMD! --max_steps !MAX_STEPS!"
SET "CMD=!CMD! --minutes !MINUTES!"
IF /I "!EQUAL_TIME!"=="true" SET "CMD=!CMD! --equal_time"
SET "CMD=!CMD! --jobs !JOBS!"
SET "CMD=!CMD! --out "!OUT!""
IF /I "!RETRY_FAILED!"=="true" SET "CMD=!CMD! --retry_failed"
REM EXTRA_ARGS follows this "--": the base training configuration
SET "CMD=!CMD! --"
GOTO :launch

:job_benchmark
IF NOT EXIST "!ROOT!\bench\bench_!BENCHMARK!.py" GOTO :bad_benchmark
SET "CMD="!PYTHON_EXE!" "!ROOT!\bench\bench_!BENCHMARK!.py""
GOTO :launch

:bad_benchmark
ECHO ERROR: BENCHMARK="!BENCHMARK!" is not a benchmark: use train, quality, rollout, mfmnist, report or vs_v01 1>&2
SET "EXIT_CODE=2"
GOTO :finish

:launch
IF DEFINED EXTRA_ARGS SET "CMD=!CMD! !EXTRA_ARGS!"
ECHO ================ WuBuGAADHybridGen: !JOB! ================
IF /I "!DRY_RUN!"=="true" (
    ECHO DRY_RUN: !CMD!
    SET "EXIT_CODE=0"
    GOTO :finish
)
%CMD%
SET "EXIT_CODE=%ERRORLEVEL%"
IF "%EXIT_CODE%"=="0" (
    ECHO !JOB! finished successfully.
) ELSE (
    ECHO !JOB! FAILED with exit code %EXIT_CODE% - see the messages above. 1>&2
)
GOTO :finish

:finish
REM ---- every way out of this file comes here: pause if asked (outermost launcher only), return EXIT_CODE
IF "%LAUNCHER_OUTER%"=="1" CALL :pause_if_asked
IF "%LAUNCHER_PUSHED%"=="1" popd
endlocal & exit /b %EXIT_CODE%

:pause_if_asked
REM PAUSE_AT_END true: always wait for a key; false: never; auto (default): only when this file was
REM double-clicked in Explorer (cmd.exe /c with this file's path) and CI is not set, so that a console,
REM a calling script or CI is never blocked.
setlocal EnableDelayedExpansion
IF "!PAUSE_AT_END!"=="" SET "PAUSE_AT_END=auto"
SET "PAUSE_NOW=false"
IF /I "!PAUSE_AT_END!"=="true" SET "PAUSE_NOW=true"
SET "CMDLINE=!CMDCMDLINE!"
IF /I "!PAUSE_AT_END!"=="auto" IF NOT DEFINED CI IF /I NOT "!CMDLINE:/c =!"=="!CMDLINE!" IF /I NOT "!CMDLINE:%THIS_FILE%=!"=="!CMDLINE!" SET "PAUSE_NOW=true"
IF "!PAUSE_NOW!"=="true" PAUSE
endlocal
GOTO :EOF

:normalise_path
REM CALL :normalise_path NAME: NAME's value as a full path (a relative one from the current folder, the
REM project root) without trailing backslashes; a drive root D:\ becomes D:\. (see below).
IF NOT DEFINED %~1 GOTO :EOF
FOR %%I IN ("!%~1!") DO SET "%~1=%%~fI"
CALL :strip_trailing_backslashes %~1
IF "!%~1:~-1!"==":" SET "%~1=!%~1!\."
GOTO :EOF

:strip_trailing_backslashes
REM CALL :strip_trailing_backslashes NAME: so that "!NAME!" on a command line never ends in \", which
REM Windows reads as an escaped quote (the argument would swallow every later flag).
IF NOT DEFINED %~1 GOTO :EOF
IF NOT "!%~1:~-1!"=="\" GOTO :EOF
SET "%~1=!%~1:~0,-1!"
GOTO :strip_trailing_backslashes
