@ECHO OFF
REM WuBuGAADHybridGen set-up (Windows). Linux/macOS twin: setup.sh.
REM
REM Creates venv, installs PyTorch, then requirements.txt, and checks the install by importing the
REM package. It never downloads datasets and never rewrites requirements.txt.
REM PyTorch build: the CUDA build that matches the NVIDIA driver (the "CUDA Version" nvidia-smi reports;
REM without nvidia-smi, the release of nvcc), else the CPU build. Running it again after a GPU or driver
REM was installed replaces a CPU build of PyTorch by the CUDA one (and the other way round). Choose the
REM wheel index yourself with SET TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 beforehand.
REM BASE_PYTHON: the Python 3.10+ that creates venv (default: python on PATH, else the py launcher). It is
REM not run_vaegan.bat's PYTHON_EXE, which is the interpreter inside venv.
REM PAUSE_AT_END: auto (default: wait for a key when double-clicked in Explorer), true, false.
REM Paths must not contain "!".

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"
REM pushd (not cd /d): works on a network share too
pushd "%~dp0" || GOTO :finish
SET "LAUNCHER_PUSHED=1"
SET "TORCH_VERSION=2.14.1"
SET "TORCHVISION_VERSION=0.29.1"
SET "PY=venv\Scripts\python.exe"

REM ---- venv, created by BASE_PYTHON
IF EXIST "%PY%" GOTO :have_venv
IF DEFINED BASE_PYTHON GOTO :check_python
SET "BASE_PYTHON=python"
python -c "import sys; sys.exit(sys.version_info < (3, 10))" >NUL 2>&1
IF NOT ERRORLEVEL 1 GOTO :create_venv
SET "BASE_PYTHON=py"
:check_python
"%BASE_PYTHON%" -c "import sys; sys.exit(sys.version_info < (3, 10))" >NUL 2>&1
IF ERRORLEVEL 1 GOTO :fail_python
:create_venv
ECHO Creating venv with "!BASE_PYTHON!" ...
"%BASE_PYTHON%" -m venv venv
IF ERRORLEVEL 1 GOTO :fail_venv
:have_venv
"%PY%" -m pip install --upgrade pip
IF ERRORLEVEL 1 GOTO :fail_pip

REM ---- PyTorch build: TORCH_INDEX_URL, else the NVIDIA driver's CUDA version, else nvcc's, else CPU
IF DEFINED TORCH_INDEX_URL GOTO :have_index
SET /A "CUDA_CODE=0"
SET "CUDA_SOURCE="
SET "CUDA_VERSION="
CALL :detect_cuda
SET "TAG=cpu"
IF NOT DEFINED CUDA_SOURCE GOTO :no_gpu
IF %CUDA_CODE% EQU 0 GOTO :unreadable_cuda
IF %CUDA_CODE% LSS 1200 GOTO :old_driver
SET "TAG=cu126"
IF %CUDA_CODE% GEQ 1208 SET "TAG=cu128"
IF %CUDA_CODE% GEQ 1300 SET "TAG=cu130"
ECHO !CUDA_SOURCE! reports CUDA !CUDA_VERSION!: installing the !TAG! build of PyTorch
GOTO :set_index
:unreadable_cuda
SET "TAG=cu126"
ECHO !CUDA_SOURCE! was found but its CUDA version could not be read: installing the cu126 build.
ECHO To choose another build, SET TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 and run again.
GOTO :set_index
:old_driver
ECHO The NVIDIA driver runs CUDA !CUDA_VERSION! at most; PyTorch %TORCH_VERSION% needs CUDA 12 or newer.
ECHO Installing the CPU build: update the driver, then run setup.bat again to switch to the CUDA build.
GOTO :set_index
:no_gpu
ECHO No NVIDIA driver (nvidia-smi) or CUDA toolkit (nvcc) found: installing the CPU build of PyTorch
:set_index
SET "TORCH_INDEX_URL=https://download.pytorch.org/whl/!TAG!"
:have_index

REM ---- an installed torch of another build (2.14.1+cpu on a machine that now has a GPU) satisfies
REM torch==2.14.1, so pip would keep it: uninstall it first (the check compares version and CUDA build)
"%PY%" -c "import sys, torch; c = torch.version.cuda; tag = 'cu' + c.replace('.', '') if c else 'cpu'; want = sys.argv[2].rstrip('/').rsplit('/', 1)[-1]; sys.exit(0 if (torch.__version__.split('+')[0], tag) == (sys.argv[1], want) else 1)" %TORCH_VERSION% "!TORCH_INDEX_URL!" >NUL 2>&1
IF NOT ERRORLEVEL 1 GOTO :install_torch
"%PY%" -m pip show torch >NUL 2>&1
IF ERRORLEVEL 1 GOTO :install_torch
ECHO The installed PyTorch is not the build of "!TORCH_INDEX_URL!": uninstalling it first
"%PY%" -m pip uninstall -y torch torchvision
IF ERRORLEVEL 1 GOTO :fail_pip
:install_torch
"%PY%" -m pip install "torch==%TORCH_VERSION%" "torchvision==%TORCHVISION_VERSION%" --index-url "!TORCH_INDEX_URL!"
IF ERRORLEVEL 1 GOTO :fail_torch
"%PY%" -m pip install -r requirements.txt
IF ERRORLEVEL 1 GOTO :fail_pip
"%PY%" -c "import sys; sys.path.insert(0, 'draftPY'); import wubugaad, torch, torchvision; print('wubugaad OK; torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())"
IF ERRORLEVEL 1 GOTO :fail_import
ECHO Set-up done. Open a shell in the venv with venv.bat; train with run_vaegan.bat.
SET "EXIT_CODE=0"
GOTO :finish

:fail_python
ECHO ERROR: no Python 3.10 or newer found (tried python and py). Install it from python.org and tick 1>&2
ECHO "Add python.exe to PATH", or SET BASE_PYTHON=C:\path\to\python.exe; then run setup.bat again. 1>&2
GOTO :finish
:fail_venv
ECHO ERROR: "!BASE_PYTHON!" could not create venv - see the messages above. 1>&2
GOTO :finish
:fail_pip
ECHO ERROR: pip failed - see the messages above. 1>&2
GOTO :finish
:fail_torch
ECHO ERROR: the PyTorch install from "!TORCH_INDEX_URL!" failed - see the messages above. 1>&2
GOTO :finish
:fail_import
ECHO ERROR: the package does not import - see the messages above. 1>&2
GOTO :finish

:detect_cuda
REM Sets CUDA_SOURCE (nvidia-smi or nvcc), CUDA_VERSION (e.g. 12.8) and CUDA_CODE (major*100+minor; 0
REM when unreadable). nvidia-smi's "CUDA Version" is the newest CUDA the driver runs, which is what a
REM PyTorch wheel needs: the wheel brings its own CUDA runtime, so the toolkit (nvcc) is not required.
setlocal EnableDelayedExpansion
SET "SOURCE="
SET "FOUND="
SET "LINE="
SET "NVSMI_DIR=%ProgramFiles%\NVIDIA Corporation\NVSMI"
WHERE nvidia-smi >NUL 2>&1
IF ERRORLEVEL 1 IF EXIST "!NVSMI_DIR!\nvidia-smi.exe" SET "PATH=!PATH!;!NVSMI_DIR!"
WHERE nvidia-smi >NUL 2>&1
IF NOT ERRORLEVEL 1 SET "SOURCE=nvidia-smi"
REM "| NVIDIA-SMI 572.16    Driver Version: 572.16    CUDA Version: 12.8 |" -> 12.8
IF DEFINED SOURCE FOR /F "delims=" %%L IN ('nvidia-smi 2^>NUL ^| findstr /C:"CUDA Version"') DO SET "LINE=%%L"
IF DEFINED LINE SET "LINE=!LINE:*CUDA Version=!"
IF DEFINED LINE FOR /F "tokens=1 delims=:| " %%V IN ("!LINE!") DO SET "FOUND=%%V"
IF DEFINED FOUND GOTO :detect_cuda_parse
WHERE nvcc >NUL 2>&1
IF ERRORLEVEL 1 GOTO :detect_cuda_parse
IF NOT DEFINED SOURCE SET "SOURCE=nvcc"
REM "Cuda compilation tools, release 12.8, V12.8.93" -> token 5 = 12.8
FOR /F "tokens=5 delims=, " %%A IN ('nvcc --version 2^>NUL ^| findstr /C:"release"') DO SET "FOUND=%%A"
IF DEFINED FOUND SET "SOURCE=nvcc"
:detect_cuda_parse
SET "MAJOR=x"
SET "MINOR=x"
IF DEFINED FOUND FOR /F "tokens=1,2 delims=." %%A IN ("!FOUND!") DO (SET "MAJOR=%%A" & SET "MINOR=%%B")
SET /A "CODE=0"
SET /A "CHECK_MAJOR=MAJOR, CHECK_MINOR=MINOR" 2>NUL
IF "!CHECK_MAJOR!"=="!MAJOR!" IF "!CHECK_MINOR!"=="!MINOR!" SET /A "CODE=MAJOR*100+MINOR"
endlocal & SET "CUDA_SOURCE=%SOURCE%" & SET "CUDA_VERSION=%FOUND%" & SET /A "CUDA_CODE=%CODE%"
GOTO :EOF

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
